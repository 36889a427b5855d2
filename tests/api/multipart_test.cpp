// api/multipart.h on well-formed, binary, duplicate, malformed and huge bodies.
#include "api/multipart.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace facepipe::api {
namespace {

std::string part(const std::string& boundary, const std::string& disposition, const std::string& content,
                 const std::string& type = "") {
  std::string s = "--" + boundary + "\r\nContent-Disposition: " + disposition + "\r\n";
  if (!type.empty()) s += "Content-Type: " + type + "\r\n";
  return s + "\r\n" + content + "\r\n";
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\""), "a b:c");
  EXPECT_THROW(multipart_boundary("multipart/form-data"), Error);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary="), Error);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')), Error);
  EXPECT_THROW(multipart_boundary("application/json; boundary=abc"), Error);
}

TEST(Multipart, PartsAreBinarySafeAndDuplicatesKept) {
  const std::string b = "----fpX";
  // Content holding NUL, CR, LF and a near-boundary ("\r\n--fpX" is not the delimiter "\r\n------fpX").
  const std::string binary = std::string("\xff\xd8\0\r\n--fpX\r\n\x01", 12);
  const std::string body = "preamble\r\n" +
                           part(b, "form-data; name=\"file\"; filename=\"a.jpg\"", binary, "image/jpeg") +
                           part(b, "form-data; name=file; filename=\"b \\\"q\\\".jpg\"", "second") +
                           part(b, "form-data; name=\"subject\"", "Obama") + "--" + b + "--\r\nepilogue";
  const auto parts = parse_multipart(body, b);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "file");
  EXPECT_EQ(parts[0].filename, "a.jpg");
  EXPECT_EQ(parts[0].content_type, "image/jpeg");
  EXPECT_EQ(parts[0].content, binary);
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_EQ(parts[1].filename, "b \"q\".jpg");
  EXPECT_EQ(parts[1].content, "second");
  EXPECT_EQ(parts[2].name, "subject");
  EXPECT_EQ(parts[2].content, "Obama");
  EXPECT_TRUE(parts[2].filename.empty());
}

TEST(Multipart, EmptyContentAndNoParts) {
  const auto parts = parse_multipart(part("b", "form-data; name=\"file\"", "") + "--b--", "b");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].content, "");
  EXPECT_TRUE(parse_multipart("--b--\r\n", "b").empty());
}

TEST(Multipart, MalformedBodiesAreRefused) {
  const std::string ok = part("b", "form-data; name=\"file\"", "x");
  EXPECT_THROW(parse_multipart("", "b"), Error);                           // no opening boundary
  EXPECT_THROW(parse_multipart("just text", "b"), Error);                  // no opening boundary
  EXPECT_THROW(parse_multipart(ok, "b"), Error);                           // no closing boundary
  EXPECT_THROW(parse_multipart(ok.substr(0, ok.size() - 4), "b"), Error);  // truncated
  EXPECT_THROW(parse_multipart("--bXX\r\n\r\nx\r\n--b--", "b"), Error);    // boundary not followed by CRLF
  EXPECT_THROW(parse_multipart("--b\r\nContent-Type: a\r\n\r\nx\r\n--b--", "b"), Error);  // no disposition
  EXPECT_THROW(parse_multipart(part("b", "form-data", "x") + "--b--", "b"), Error);       // no name
  EXPECT_THROW(parse_multipart(part("b", "attachment; name=\"f\"", "x") + "--b--", "b"), Error);
  EXPECT_THROW(parse_multipart(part("b", "form-data; name=\"f", "x") + "--b--", "b"), Error);  // quote
  EXPECT_THROW(parse_multipart("--b\r\nNoColonHere\r\n\r\nx\r\n--b--", "b"), Error);
  EXPECT_THROW(parse_multipart("--b\r\nContent-Disposition: form-data; name=f\r\nx\r\n--b--", "b"), Error);
  EXPECT_THROW(parse_multipart(ok + "--b--", ""), Error);
}

TEST(Multipart, HugeInputIsBounded) {
  std::string many;
  for (size_t i = 0; i <= kMaxParts; ++i) many += part("b", "form-data; name=\"f\"", "x");
  EXPECT_THROW(parse_multipart(many + "--b--", "b"), Error);
  std::string at_limit;
  for (size_t i = 0; i < kMaxParts; ++i) at_limit += part("b", "form-data; name=\"f\"", "x");
  EXPECT_EQ(parse_multipart(at_limit + "--b--", "b").size(), kMaxParts);
  const std::string long_header =
      "--b\r\nContent-Disposition: form-data; name=\"f\"\r\nX-Pad: " + std::string(kMaxPartHeaderBytes, 'a') +
      "\r\n\r\nx\r\n--b--";
  EXPECT_THROW(parse_multipart(long_header, "b"), Error);
  // A large binary part is fine (the transport bounds the body).
  const std::string big(4 * 1024 * 1024, '\x7f');
  const auto parts = parse_multipart(part("b", "form-data; name=\"file\"", big) + "--b--", "b");
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].content.size(), big.size());
}

}  // namespace
}  // namespace facepipe::api
