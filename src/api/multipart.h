// multipart/form-data (RFC 7578) bodies, as CompreFace's clients send images: the parts of a body, each
// with its field name, file name, type and bytes (binary-safe).
//
// Hand-written because the transport (Boost.Beast) parses no multipart bodies and no Debian library
// fits: GMime and libmimetic are e-mail MIME stacks (large, stream-oriented, different header rules), and
// cpp-httplib's parser is tied to its own server. This one only splits a body already held in memory.
//
// Bounded: at most kMaxParts parts, part headers at most kMaxPartHeaderBytes; the body itself is bounded
// by the transport (ServerOptions::max_body_bytes). Anything malformed throws Error(kInvalidInput), which
// the API answers with 400 and a JSON message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"

namespace facepipe::api {

inline constexpr size_t kMaxParts = 64;
inline constexpr size_t kMaxPartHeaderBytes = 8 * 1024;

// The boundary parameter of a `multipart/form-data; boundary=...` Content-Type (quoted or not, 1..70
// characters, RFC 2046). Throws Error(kInvalidInput) when it is missing or malformed.
std::string multipart_boundary(std::string_view content_type);

// The parts of `body`, in order. A field may appear more than once (every part is kept). Throws
// Error(kInvalidInput) naming what is wrong: no opening or closing boundary, a part without
// `Content-Disposition: form-data; name=...`, too many parts, headers too long.
std::vector<UploadedFile> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace facepipe::api
