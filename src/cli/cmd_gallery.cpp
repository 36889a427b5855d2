// facepipe gallery import | list | remove: manage a gallery database without the engine.
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "gallery/data_pt.h"
#include "gallery/gallery.h"

namespace facepipe::cli {

void register_gallery_commands(CLI::App& app, GlobalOptions& /*global*/) {
  auto* gallery_cmd = app.add_subcommand("gallery", "manage a gallery: import a data.pt, list, remove people");
  gallery_cmd->require_subcommand(1);

  auto* import = gallery_cmd->add_subcommand("import", "import facenet-pytorch's data.pt ([embeddings, names])");
  auto db = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto embedder_id = std::make_shared<std::string>(gallery::kDataPtEmbedderId);
  import->add_option("--gallery", *db, "gallery database (created when missing)")->required();
  import->add_option("--embedder-id", *embedder_id, "the embedder that made the embeddings")->capture_default_str();
  import->add_option("file", *file, "data.pt")->required()->check(CLI::ExistingFile);
  import->callback([db, file, embedder_id] {
    auto g = gallery::Gallery::open(*db, *embedder_id);
    const int n = gallery::import_data_pt(*g, *file);
    std::cout << "imported " << n << " embeddings into " << *db << " (" << g->embedder_id() << ")\n";
  });

  auto* list = gallery_cmd->add_subcommand("list", "list the people of a gallery");
  auto list_db = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  list->add_option("--gallery", *list_db, "gallery database")->required()->check(CLI::ExistingFile);
  list->add_flag("--json", *as_json, "print JSON");
  list->callback([list_db, as_json] {
    auto g = gallery::Gallery::open(*list_db);
    const auto people = g->people();
    if (*as_json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& p : people) out.push_back({{"name", p.name}, {"embeddings", p.embeddings}, {"record", p.record}});
      std::cout << nlohmann::json{{"embedder", g->embedder_id()}, {"dim", g->dim()}, {"people", out}}.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<28} {:>10}  {}\n", "person", "embeddings", "record");
    for (const auto& p : people)
      std::cout << fmt::format("{:<28} {:>10}  {}\n", p.name, p.embeddings, p.record.is_null() ? "" : p.record.dump());
    std::cout << people.size() << " people, embedder " << g->embedder_id() << "\n";
  });

  auto* remove = gallery_cmd->add_subcommand("remove", "remove a person and their embeddings");
  auto rm_db = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  remove->add_option("--gallery", *rm_db, "gallery database")->required()->check(CLI::ExistingFile);
  remove->add_option("name", *name, "person")->required();
  remove->callback([rm_db, name] {
    gallery::Gallery::open(*rm_db)->remove(*name);
    std::cout << "removed " << *name << "\n";
  });
}

}  // namespace facepipe::cli
