// Standard base64 (RFC 4648, with padding) over OpenSSL's EVP block coder, so the service does not carry
// its own codec. Decoding is strict: whitespace at the ends is ignored, anything else outside the
// alphabet, a bad length or bad padding is Error(kInvalidInput).
#pragma once

#include <string>
#include <string_view>

namespace facepipe::service {

std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text);

}  // namespace facepipe::service
