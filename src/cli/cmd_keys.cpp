// facepipe keys create|list|revoke: the API keys `serve` checks (auth/keys.h), kept in the data directory.
#include <ctime>
#include <filesystem>
#include <iostream>

#include "auth/keys.h"
#include "cli/commands.h"
#include "core/error.h"

namespace facepipe::cli {

void register_keys_commands(CLI::App& app, GlobalOptions&) {
  struct Args {
    std::string data_dir = "facepipe-data";
    std::string name, role = "recognize", id;
    bool json_out = false, sqs = false;
    int days = 365;
  };
  auto a = std::make_shared<Args>();
  auto* keys = app.add_subcommand("keys", "API keys for serve: create (shown once), list, revoke");
  keys->require_subcommand(1);
  auto data_dir = [a](CLI::App* sub) {
    sub->add_option("--data-dir", a->data_dir, "serve's data directory (keys.db is kept there)")
        ->capture_default_str();
  };
  auto open = [a] {
    std::filesystem::create_directories(a->data_dir);
    return auth::KeyStore::open(auth::key_store_path(a->data_dir));
  };

  auto* create = keys->add_subcommand("create", "make a key; it is printed once, only its hash is kept");
  data_dir(create);
  create->add_option("--name", a->name, "who or what uses the key (e.g. double-take)")->required();
  create->add_option("--role", a->role, "admin (people, faces, queues), recognize (also frames), read")
      ->capture_default_str();
  create->add_flag("--json", a->json_out, "print {id, name, role, key} as JSON");
  create->add_flag("--sqs", a->sqs,
                   "make an SQS access key pair instead (SigV4: the aws CLI, boto3, facepipe workers with "
                   "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)");
  create->add_option("--days", a->days, "with --sqs: days the pair is valid")->capture_default_str();
  create->callback([a, open] {
    const auth::Role role = auth::parse_role(a->role);
    auto store = open();
    if (a->sqs) {
      const auto k = store->create_access_key(a->name, role, a->days);
      if (a->json_out) {
        std::cout << nlohmann::json{{"id", k.access_key_id},
                                    {"name", k.info.name},
                                    {"role", a->role},
                                    {"access_key_id", k.access_key_id},
                                    {"secret_access_key", k.secret_access_key},
                                    {"expires", k.info.expires}}
                         .dump()
                  << "\n";
      } else {
        std::cout << "AWS_ACCESS_KEY_ID=" << k.access_key_id
                  << "\nAWS_SECRET_ACCESS_KEY=" << k.secret_access_key << "\n";
        std::cerr << "SQS access key " << k.access_key_id << " (" << k.info.name << ", role " << a->role
                  << ", valid " << a->days
                  << " days) created; the secret is shown only now. Export both lines (any region) for the "
                     "aws CLI, boto3 or facepipe workers against this serve's --endpoint-url\n";
      }
      return;
    }
    const auto k = store->create(a->name, role);
    if (a->json_out) {
      std::cout << nlohmann::json{{"id", k.info.id}, {"name", k.info.name}, {"role", a->role}, {"key", k.key}}
                       .dump()
                << "\n";
    } else {
      std::cout << k.key << "\n";
      std::cerr << "key " << k.info.id << " (" << k.info.name << ", role " << a->role
                << ") created; it is shown only now: send it in the x-api-key header\n";
    }
  });

  auto* list =
      keys->add_subcommand("list", "keys by id, name, role, creation time and state (never the key)");
  data_dir(list);
  list->add_flag("--json", a->json_out, "print a JSON array");
  list->callback([a, open] {
    auto store = open();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& k : store->list()) {
      if (a->json_out) {
        out.push_back({{"id", k.id},
                       {"name", k.name},
                       {"role", auth::role_name(k.role)},
                       {"created", k.created},
                       {"revoked", k.revoked},
                       {"kind", k.sqs ? "sqs" : "api"},
                       {"expires", k.expires}});
        continue;
      }
      char when[32];
      const std::time_t t = static_cast<std::time_t>(k.created);
      std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
      const bool expired = k.expires != 0 && k.expires < std::time(nullptr);
      std::cout << k.id << "  " << (k.sqs ? "sqs" : "api") << "  " << auth::role_name(k.role) << "  " << when
                << "  "
                << (k.revoked ? "revoked"
                    : expired ? "expired"
                              : "live")
                << "  " << k.name << "\n";
    }
    if (a->json_out) std::cout << out.dump(2) << "\n";
  });

  auto* revoke =
      keys->add_subcommand("revoke", "revoke a key by its id (from `keys list`); effective at once");
  data_dir(revoke);
  revoke->add_option("id", a->id, "key id, or the key itself")->required();
  revoke->callback([a, open] {
    auto store = open();
    if (!store->revoke(a->id))
      throw Error(ErrorKind::kNotFound, "no live key '" + a->id + "'; `facepipe keys list` shows them");
    std::cout << "revoked " << a->id << "\n";
  });
}

}  // namespace facepipe::cli
