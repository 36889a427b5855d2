// Files of one directory served under a URL prefix (the web console's web/): GET and HEAD only.
//
// Safe by construction: the decoded path may not contain "..", ".", empty segments, backslashes or NUL,
// and the file it names, after resolving symlinks, must lie inside the directory; anything else is 404.
// "/prefix/" serves index.html. Content-Type comes from the extension (unknown: application/octet-stream)
// with `X-Content-Type-Options: nosniff`; caching is by validation: `Cache-Control: no-cache` with an ETag
// (size and modification time) and Last-Modified, so an unchanged file answers 304 without a body.
#pragma once

#include <filesystem>
#include <string>

#include "server/route_table.h"

namespace facepipe::server {

struct StaticMountOptions {
  size_t max_file_bytes = size_t{64} * 1024 * 1024;  // larger files are not served (404)
};

// `prefix` starts and ends with '/' ("/web/"). Throws Error(kNotFound) when `directory` is not one.
void add_static_mount(RouteTable& routes, const std::string& prefix, const std::filesystem::path& directory,
                      StaticMountOptions options = {});

// The Content-Type for a file name's extension.
std::string content_type_for(const std::filesystem::path& file);

}  // namespace facepipe::server
