// facepipe people set | get | list | import | to-dynamodb: the records kept with gallery people (name, major,
// year...), returned with results. Records belong to enrolled people: a name the gallery does not know is
// refused (with the closest name) unless --create says a record without photos is meant. With --url instead of
// --gallery, the same commands and output against a running `facepipe serve` (cli/remote_flags.h).
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/remote_flags.h"
#include "core/error.h"
#include "core/suggest.h"
#include "gallery/gallery.h"
#include "gallery/people.h"

namespace facepipe::cli {
namespace {

using nlohmann::json;

std::string value_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

constexpr const char* kEnrollFirst =
    "enroll their photos first (facepipe enroll), or add --create to keep a record for someone without photos";

Error unknown_person(const gallery::Gallery& g, const std::string& name) {
  std::vector<std::string> names;
  for (const auto& p : g.people()) names.push_back(p.name);
  return Error(ErrorKind::kNotFound,
               "no person '" + name + "' in the gallery" + did_you_mean(name, names) + ": " + kEnrollFirst);
}

// The record a person gets from --record or their stored one, then the KEY=VALUE fields, then its name.
json merged_record(const std::string& name, const std::string& record_json, const json& stored,
                   const std::vector<std::string>& fields) {
  json record = record_json.empty() ? (stored.is_object() ? stored : json::object())
                                    : json::parse(record_json, nullptr, false);
  if (record.is_discarded() || !record.is_object())
    throw Error(ErrorKind::kInvalidInput, "--record must be a JSON object such as {\"major\": \"CS\", \"year\": 3}");
  for (const auto& f : fields) {
    const auto eq = f.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::kInvalidInput, "'" + f + "' is not KEY=VALUE (e.g. major=CS year=3)");
    record[f.substr(0, eq)] = gallery::record_value(f.substr(eq + 1));
  }
  if (!record.contains("name")) record["name"] = name;
  return record;
}

void print_record_set(const std::string& name, const json& record, bool as_json) {
  if (as_json) {
    std::cout << record.dump() << "\n";
    return;
  }
  std::cout << "set the record of " << name << ": " << record.dump() << "\n";
}

void set_remote(const RemoteFlags& remote, const std::string& given, const std::string& record_json,
                const std::vector<std::string>& fields, bool create, bool as_json) {
  auto c = open_client(remote);
  std::string name = given;
  std::optional<api::RemotePerson> existing;
  try {
    name = c->resolve(given);
    existing = c->person(name);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kNotFound || !create)
      throw e.kind() == ErrorKind::kNotFound ? Error(ErrorKind::kNotFound, std::string(e.what()) + "; " + kEnrollFirst)
                                             : e;
  }
  const json record = merged_record(name, record_json, existing ? existing->record : json(), fields);
  if (existing)
    c->set_record(name, record);
  else
    c->create_person(name, record);
  print_record_set(name, record, as_json);
}

void register_set(CLI::App* people) {
  struct Args {
    std::string db, name, record_json;
    std::vector<std::string> fields;
    bool create = false, json_out = false;
    RemoteFlags remote;
  };
  auto a = std::make_shared<Args>();
  auto* set = people->add_subcommand(
      "set", "set a person's record: people set NAME KEY=VALUE... or --record '{...}'");
  auto* db = set->add_option("--gallery", a->db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(set, a->remote, db);
  set->add_option("name", a->name, "person")->required();
  set->add_option("fields", a->fields, "KEY=VALUE pairs (numbers stay numbers)");
  set->add_option("--record", a->record_json, "the whole record as a JSON object");
  set->add_flag("--create", a->create, "allow a name that is not in the gallery (a record without photos)");
  set->add_flag("--json", a->json_out, "print the stored record as JSON");
  set->callback([a] {
    require_gallery_or_url(a->db, a->remote);
    if (a->remote.remote())
      return set_remote(a->remote, a->name, a->record_json, a->fields, a->create, a->json_out);
    auto g = gallery::Gallery::open(a->db);
    std::string name = a->name;
    try {
      name = gallery::resolve_person(*g, a->name);
    } catch (const Error&) {
      if (!a->create) throw unknown_person(*g, a->name);
    }
    const json record = merged_record(name, a->record_json, g->record(name).value_or(json::object()), a->fields);
    g->set_record(name, record);
    print_record_set(name, record, a->json_out);
  });
}

void register_get(CLI::App* people) {
  struct Args {
    std::string db, name;
    bool json_out = false;
    RemoteFlags remote;
  };
  auto a = std::make_shared<Args>();
  auto* get = people->add_subcommand("get", "print a person's record (the name's case does not matter)");
  auto* db = get->add_option("--gallery", a->db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(get, a->remote, db);
  get->add_option("name", a->name, "person")->required();
  get->add_flag("--json", a->json_out, "print the record as JSON");
  get->callback([a] {
    require_gallery_or_url(a->db, a->remote);
    std::string name;
    std::optional<json> r;
    if (a->remote.remote()) {
      auto c = open_client(a->remote);
      name = c->resolve(a->name);
      if (auto p = c->person(name); p && !p->record.is_null()) r = p->record;
    } else {
      auto g = gallery::Gallery::open(a->db);
      name = gallery::resolve_person(*g, a->name);
      r = g->record(name);
    }
    if (!r)
      throw Error(ErrorKind::kNotFound,
                  "'" + name + "' has no record yet; set one with `facepipe people set " +
                      (a->remote.remote() ? "--url " + a->remote.url : "--gallery " + a->db) + " '" + name +
                      "' major=... year=...` or `people import`");
    if (a->json_out) {
      std::cout << r->dump(2) << "\n";
      return;
    }
    for (const auto& [key, value] : r->items())
      std::cout << fmt::format("{:<16} {}\n", key, value_text(value));
  });
}

void register_list(CLI::App* people) {
  struct Args {
    std::string db;
    bool json_out = false;
    RemoteFlags remote;
  };
  auto a = std::make_shared<Args>();
  auto* list = people->add_subcommand("list", "every person with their record");
  auto* db = list->add_option("--gallery", a->db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(list, a->remote, db);
  list->add_flag("--json", a->json_out, "print JSON: [{name, embeddings, record}]");
  list->callback([a] {
    require_gallery_or_url(a->db, a->remote);
    std::vector<gallery::Person> people;
    if (a->remote.remote()) {
      for (auto& p : open_client(a->remote)->gallery().people)
        people.push_back({p.name, p.embeddings, p.record});
    } else {
      people = gallery::Gallery::open(a->db)->people();
    }
    if (a->json_out) {
      json out = json::array();
      for (const auto& p : people)
        out.push_back({{"name", p.name}, {"embeddings", p.embeddings}, {"record", p.record}});
      std::cout << out.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("{:<24} {:>10}  {}\n", "name", "embeddings", "record");
    for (const auto& p : people)
      std::cout << fmt::format("{:<24} {:>10}  {}\n", p.name, p.embeddings,
                               p.record.is_null() ? "-" : p.record.dump());
    std::cout << people.size() << " people\n";
  });
}

void register_import(CLI::App* people) {
  struct Args {
    std::string db, csv;
    bool create = false, dry_run = false, json_out = false;
    RemoteFlags remote;
  };
  auto a = std::make_shared<Args>();
  auto* import = people->add_subcommand(
      "import", "records from a CSV whose header names the fields ('name' required; quoted cells allowed)");
  auto* db = import->add_option("--gallery", a->db, "gallery database")->check(CLI::ExistingFile);
  add_remote_flags(import, a->remote, db);
  import->add_option("csv", a->csv, "CSV file, e.g. name,major,year")->required()->check(CLI::ExistingFile);
  import->add_flag("--create", a->create, "allow names that are not in the gallery (records without photos)");
  import->add_flag("--dry-run", a->dry_run, "check and print the records, store nothing");
  import->add_flag("--json", a->json_out, "print JSON: {imported, records}");
  import->callback([a] {
    require_gallery_or_url(a->db, a->remote);
    const auto records = gallery::read_people_csv(a->csv);
  std::unique_ptr<gallery::Gallery> g;
  std::unique_ptr<api::PeopleClient> c;
  std::vector<std::string> names, known, unknown;
  for (const auto& r : records) names.push_back(r["name"].get<std::string>());
  if (a->remote.remote()) {
    c = open_client(a->remote);
    for (const auto& p : c->gallery().people) known.push_back(p.name);
    const std::set<std::string> there(known.begin(), known.end());
    for (const auto& n : names)
      if (!there.count(n)) unknown.push_back(n);
  } else {
    g = gallery::Gallery::open(a->db);
    unknown = gallery::unknown_people(*g, names);
    for (const auto& p : g->people()) known.push_back(p.name);
  }
  if (!unknown.empty() && !a->create) {
    std::string list;
    for (const auto& n : unknown) list += (list.empty() ? "'" : ", '") + n + "'" + did_you_mean(n, known);
    throw Error(ErrorKind::kNotFound, std::to_string(unknown.size()) + " name(s) in '" + a->csv +
                                          "' are nobody in the gallery: " + list +
                                          "; fix the names, enroll those people first, or add --create");
  }
  if (!a->dry_run && c) {
    std::set<std::string> there(known.begin(), known.end());
    for (const auto& r : records) {
      const std::string name = r["name"].get<std::string>();
      if (there.insert(name).second)
        c->create_person(name, r);
      else
        c->set_record(name, r);
    }
  } else if (!a->dry_run) {
    for (const auto& r : records) g->set_record(r["name"].get<std::string>(), r);
  }
  const int n = a->dry_run ? 0 : static_cast<int>(records.size());
  if (a->json_out) {
    std::cout << json{{"imported", n}, {"dry_run", a->dry_run}, {"records", records}}.dump(2) << "\n";
    return;
  }
  for (const auto& r : records) std::cout << r.dump() << "\n";
  std::cout << (a->dry_run ? "dry run: would import " + std::to_string(records.size())
                           : "imported " + std::to_string(n))
            << " records\n";
});
}  // namespace

void register_to_dynamodb(CLI::App* people) {
  auto csv = std::make_shared<std::string>();
  auto* cmd = people->add_subcommand(
      "to-dynamodb", "print each CSV record as a DynamoDB item, one a line (scripts/deploy-aws.sh --people)");
  cmd->add_option("csv", *csv, "CSV file as for people import")->required()->check(CLI::ExistingFile);
  cmd->callback([csv] {
    for (const auto& r : gallery::read_people_csv(*csv))
      std::cout << gallery::to_dynamodb_item(r).dump() << "\n";
  });
}

}  // namespace facepipe::cli

void register_people_commands(CLI::App& app, GlobalOptions&) {
  auto* people = app.add_subcommand("people", "the records kept with gallery people (returned with results)");
  people->require_subcommand(1);
  register_set(people);
  register_get(people);
  register_list(people);
  register_import(people);
  register_to_dynamodb(people);
}

}  // namespace facepipe::cli
