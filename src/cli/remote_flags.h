// --url, --api-key and --insecure: the remote form of enroll, people and gallery, which talk to a
// `facepipe serve` through its people API (api/people_client.h) instead of opening a gallery file.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "api/people_client.h"

namespace facepipe::cli {

struct RemoteFlags {
  std::string url;      // empty: the command uses its --gallery
  std::string api_key;  // --api-key, else $FACEPIPE_API_KEY (a key in the environment is not shown by ps)
  bool insecure = false;
  bool remote() const { return !url.empty(); }
};

// Adds --url, --api-key and --insecure to `cmd`; `gallery` (the command's --gallery option) and --url
// exclude each other. `flags` must outlive parsing.
void add_remote_flags(CLI::App* cmd, RemoteFlags& flags, CLI::Option* gallery);
// Error(kInvalidInput) naming both forms when neither --gallery nor --url was given.
void require_gallery_or_url(const std::string& gallery, const RemoteFlags& flags);
std::unique_ptr<api::PeopleClient> open_client(const RemoteFlags& flags);

}  // namespace facepipe::cli
