// facepipe errors.
//
// Every failure a user can cause (a bad file, a bad request, a missing model) is reported as a
// facepipe::Error whose message says what went wrong and, where there is one, what to do next.
// Callers at the edges (CLI, HTTP server, Lambda handler) turn it into an exit code or a 4xx/5xx
// (api/http.h maps kinds to HTTP statuses; core knows nothing of HTTP).
#pragma once

#include <stdexcept>
#include <string>

namespace facepipe {

// Broad classes of failure; the edges map them to exit codes and HTTP statuses.
enum class ErrorKind {
  kInvalidInput,  // the caller's data is wrong (bad JSON, not an image, truncated file): HTTP 400
  kNotFound,      // a named thing does not exist (file, queue, person): HTTP 404
  kTooLarge,      // over a size limit (body, image pixels, clip length): HTTP 413
  kConflict,      // already exists / mismatched state (duplicate request id, gallery embedder): HTTP 409
  kUnavailable,   // a dependency is down or timed out; retrying may help: HTTP 503
  kInternal,      // a bug or an unexpected condition: HTTP 500
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  // Stable machine-readable name of the kind ("invalid_input", ...), used in JSON error bodies.
  const char* code() const;

 private:
  ErrorKind kind_;
};

// Shorthands that read well at the throw site.
[[noreturn]] void throw_invalid(const std::string& message);
[[noreturn]] void throw_not_found(const std::string& message);

}  // namespace facepipe
