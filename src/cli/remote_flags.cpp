#include "cli/remote_flags.h"

#include "core/error.h"

namespace facepipe::cli {

void add_remote_flags(CLI::App* cmd, RemoteFlags& flags, CLI::Option* gallery) {
  const char* group = "Remote gallery (a running `facepipe serve --gallery`, instead of --gallery FILE)";
  auto* url =
      cmd->add_option("--url", flags.url, "the server, http://HOST:PORT or https://HOST:PORT")->group(group);
  cmd->add_option("--api-key", flags.api_key,
                  "its API key (`facepipe keys create` on the server); better in FACEPIPE_API_KEY, which ps "
                  "does not show")
      ->envname("FACEPIPE_API_KEY")
      ->group(group);
  cmd->add_flag("--insecure", flags.insecure, "https without checking the certificate (test servers only)")
      ->group(group);
  gallery->excludes(url);
  url->excludes(gallery);
}

void require_gallery_or_url(const std::string& gallery, const RemoteFlags& flags) {
  if (gallery.empty() && !flags.remote())
    throw Error(ErrorKind::kInvalidInput,
                "no gallery: give --gallery FILE (a gallery on this machine) or --url http://HOST:PORT (a "
                "running `facepipe serve --gallery`, with --api-key or FACEPIPE_API_KEY)");
}

std::unique_ptr<api::PeopleClient> open_client(const RemoteFlags& flags) {
  return std::make_unique<api::PeopleClient>(
      api::PeopleClientOptions{.url = flags.url, .api_key = flags.api_key, .insecure = flags.insecure});
}

}  // namespace facepipe::cli
