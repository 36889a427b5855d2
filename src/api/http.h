// Transport-free HTTP shapes for the API handlers (as src/service is for the functions): a request in
// (method, path, its path parameters, query, headers, body, uploaded files), a response out (status and
// JSON, or bytes). The server turns its requests into these and these into its answers; handlers never see
// the transport, so tests call them directly.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace facepipe::api {

// facepipe::Error kinds as HTTP statuses, the one table for every edge that speaks HTTP (these APIs, the
// server's routes through server/error_status.h, the Lambda function URL): kInvalidInput 400, kNotFound
// 404, kTooLarge 413, kConflict 409, kUnavailable 503, kInternal 500.
int http_status(ErrorKind kind);

// One part of a multipart/form-data body.
struct UploadedFile {
  std::string name;          // the form field ("file", "source_image", ...)
  std::string filename;      // as the client named it, may be empty
  std::string content_type;  // may be empty
  std::string content;
};

struct Request {
  std::string method;                              // "GET", "POST", ...
  std::string path;                                // without the query
  std::map<std::string, std::string> path_params;  // filled by Router from "{name}" segments
  std::multimap<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;                            // raw body (empty for a multipart body the transport parsed)
  std::vector<UploadedFile> files;             // multipart parts

  // Header by name (any case); "" when absent.
  std::string header(const std::string& name) const;
  // First query value of `name`, nullopt when absent.
  std::optional<std::string> param(const std::string& name) const;
  const UploadedFile* file(const std::string& name) const;
};

struct Response {
  int status = 200;
  nlohmann::json json;  // the body when `bytes` is empty
  std::string bytes;    // a binary body (an image) when non-empty, sent with `content_type`
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;

  static Response of(nlohmann::json body, int status = 200) {
    Response r;
    r.status = status;
    r.json = std::move(body);
    return r;
  }
  // The body as it goes on the wire.
  std::string body() const { return bytes.empty() ? json.dump() : bytes; }
};

using Handler = std::function<Response(const Request&)>;

struct Route {
  std::string method;
  std::string pattern;  // "/api/v1/recognition/faces/{image_id}/img": "{x}" matches one non-empty segment
  Handler handler;
};

// Method + path dispatch with "{name}" path parameters. Literal segments win over parameters, so
// "/faces/delete" is not taken for "/faces/{image_id}". A trailing slash is ignored.
class Router {
 public:
  void add(Route route);
  const std::vector<Route>& routes() const { return routes_; }
  // The route for the request, its path parameters filled in; nullopt when no pattern matches the path.
  // `method_allowed` tells a path that exists under another method (405) from none (404).
  std::optional<Route> find(Request& request, bool* method_allowed = nullptr) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace facepipe::api
