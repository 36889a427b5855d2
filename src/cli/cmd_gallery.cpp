// facepipe gallery import | list | remove: manage a gallery database without the engine; list and remove also
// on a running `facepipe serve` with --url (cli/remote_flags.h).
#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/remote_flags.h"
#include "core/error.h"
#include "gallery/bulk_import.h"
#include "gallery/data_pt.h"
#include "gallery/gallery.h"
#include "gallery/people.h"

namespace facepipe::cli {

namespace {

// The bulk path: progress on stderr about once a second (rows, percent of the file, rows/s), the result on
// stdout.
void import_embeddings_csv(const std::string& db, const std::string& file, const std::string& embedder_id,
                           bool as_json) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last = start;
  const auto result =
      gallery::import_embeddings_csv_into(db, file, embedder_id, [&](const gallery::BulkImportProgress& p) {
        const auto now = Clock::now();
        if (now - last < std::chrono::seconds(1) && p.bytes < p.total_bytes) return;
        last = now;
        const double s = std::chrono::duration<double>(now - start).count();
        std::cerr << fmt::format(
            "import: {} rows read, {:.0f}% of the file, {:.0f} rows/s\n", p.rows,
            p.total_bytes ? 100.0 * static_cast<double>(p.bytes) / static_cast<double>(p.total_bytes) : 100.0,
            s > 0 ? static_cast<double>(p.rows) / s : 0.0);
      });
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (as_json) {
    nlohmann::json skipped = nlohmann::json::array();
    for (const auto& [name, why] : result.skipped_examples)
      skipped.push_back({{"name", name}, {"reason", why}});
    std::cout << nlohmann::json{{"gallery", db},
                                {"embedder", embedder_id},
                                {"imported", result.added},
                                {"skipped_count", result.skipped},
                                {"skipped", skipped},
                                {"seconds", seconds}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << fmt::format("imported {} embeddings into {} ({}) in {:.1f} s", result.added, db, embedder_id,
                           seconds);
  if (result.skipped) std::cout << "; skipped " << result.skipped << " already there (the same embedding)";
  std::cout << "\n";
}

}  // namespace

void register_gallery_commands(CLI::App& app, GlobalOptions& /*global*/) {
  auto* gallery_cmd = app.add_subcommand("gallery", "manage a gallery: import a data.pt, list, remove people");
  gallery_cmd->require_subcommand(1);

  auto* import = gallery_cmd->add_subcommand(
      "import",
      "import facenet-pytorch's data.pt ([embeddings, names]) or an embeddings .csv "
      "(name,v1,...,vD a line; millions of rows, one transaction)");
  auto db = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto embedder_id = std::make_shared<std::string>(gallery::kDataPtEmbedderId);
  auto* import_db = import->add_option("--gallery", *db, "gallery database (created when missing)");
  auto import_remote = std::make_shared<RemoteFlags>();
  add_remote_flags(import, *import_remote, import_db);
  import->add_option("--embedder-id", *embedder_id, "the embedder that made the embeddings")->capture_default_str();
  import->add_option("file", *file, "data.pt, or embeddings .csv/.txt")->required()->check(CLI::ExistingFile);
  auto import_json = std::make_shared<bool>(false);
  import->add_flag("--json", *import_json, "print JSON: {gallery, embedder, imported, skipped}");
  import->callback([db, file, embedder_id, import_json, import_remote] {
    require_gallery_or_url(*db, *import_remote);
    // The people API takes photos and embeds them itself; it has no call that stores embeddings.
    if (import_remote->remote())
      throw Error(ErrorKind::kInvalidInput,
                  "gallery import writes embeddings into the gallery file, and the server's people API takes "
                  "photos, not embeddings: run `facepipe gallery import --gallery FILE " + *file +
                      "` on the machine that holds the gallery of " + import_remote->url +
                      " (then restart its serve), or enroll photos with `facepipe enroll --url`");
    if (gallery::is_embeddings_csv(*file)) {
      import_embeddings_csv(*db, *file, *embedder_id, *import_json);
  return;
}
    const auto result = gallery::import_data_pt_into(*db, *file, *embedder_id);
  if (*import_json) {
    nlohmann::json skipped = nlohmann::json::array();
    for (const auto& [name, why] : result.skipped) skipped.push_back({{"name", name}, {"reason", why}});
    std::cout << nlohmann::json{{"gallery", *db},
                                {"embedder", *embedder_id},
                                {"imported", result.imported},
                                {"skipped", skipped}}
                     .dump(2)
              << "\n";
    return;
  }
  std::cout << "imported " << result.imported << " embeddings into " << *db << " (" << *embedder_id << ")";
  if (!result.skipped.empty())
    std::cout << "; skipped " << result.skipped.size() << " already in the gallery (the same embedding)";
  std::cout << "\n";
  });

  auto* list = gallery_cmd->add_subcommand("list", "list the people of a gallery");
  auto list_db = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto list_remote = std::make_shared<RemoteFlags>();
  auto* list_db_opt = list->add_option("--gallery", *list_db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(list, *list_remote, list_db_opt);
  list->add_flag("--json", *as_json, "print JSON");
  list->callback([list_db, as_json, list_remote] {
    require_gallery_or_url(*list_db, *list_remote);
    std::string embedder;
    int dim = 0;
    std::vector<gallery::Person> people;
    if (list_remote->remote()) {
      auto remote = open_client(*list_remote)->gallery();
      embedder = remote.embedder;
      dim = remote.dim;
      for (auto& p : remote.people) people.push_back({p.name, p.embeddings, p.record});
    } else {
      auto g = gallery::Gallery::open(*list_db);
      people = g->people();
      embedder = g->embedder_id();
      dim = g->dim();
    }
    if (*as_json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& p : people) out.push_back({{"name", p.name}, {"embeddings", p.embeddings}, {"record", p.record}});
      std::cout << nlohmann::json{{"embedder", embedder}, {"dim", dim}, {"people", out}}.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<28} {:>10}  {}\n", "name", "embeddings", "record");
    for (const auto& p : people)
      std::cout << fmt::format("{:<28} {:>10}  {}\n", p.name, p.embeddings, p.record.is_null() ? "" : p.record.dump());
    std::cout << people.size() << " people, embedder " << embedder << "\n";
  });

  auto* remove = gallery_cmd->add_subcommand("remove", "remove a person and their embeddings");
  auto rm_db = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto rm_remote = std::make_shared<RemoteFlags>();
  auto* rm_db_opt = remove->add_option("--gallery", *rm_db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(remove, *rm_remote, rm_db_opt);
  remove->add_option("name", *name, "person")->required();
  remove->callback([rm_db, name, rm_remote] {
    require_gallery_or_url(*rm_db, *rm_remote);
    if (rm_remote->remote()) {
      // Erasure on the server: embeddings, face images, record, and the events and snapshots that show them.
      auto c = open_client(*rm_remote);
      const std::string person = c->resolve(*name);
      c->remove_person(person);
      std::cout << "removed " << person << "\n";
      return;
    }
    auto g = gallery::Gallery::open(*rm_db);
    const std::string person = gallery::resolve_person(*g, *name);
    g->remove(person);
    std::cout << "removed " << person << "\n";
  });
}

}  // namespace facepipe::cli
