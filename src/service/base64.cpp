#include "service/base64.h"

#include <openssl/evp.h>

#include "core/error.h"

namespace facepipe::service {

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

std::string base64_decode(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.size() % 4 != 0)
    throw Error(ErrorKind::kInvalidInput, "'content' is not valid base64: its length (" +
                                              std::to_string(text.size()) +
                                              ") is not a multiple of 4; send standard padded base64");
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0)
    throw Error(
        ErrorKind::kInvalidInput,
        "'content' is not valid base64: it has characters outside A-Z a-z 0-9 + / =; send standard base64");
  // EVP_DecodeBlock counts the padding as zero bytes; padding may only end the text.
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  if (text.substr(0, text.size() - pad).find('=') != std::string_view::npos)
    throw Error(ErrorKind::kInvalidInput, "'content' is not valid base64: '=' padding inside the text");
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace facepipe::service
