#include "queue/sqs_rules.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"

namespace facepipe::queue {
namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 80 && std::all_of(s.begin(), s.end(), name_char);
}

// Decodes one UTF-8 character at `s[at]`; returns its length (0 when the sequence is malformed, overlong, a
// surrogate or beyond U+10FFFF) and sets `cp`. Hand-written: the check is a few lines, and no Debian library
// checks SQS's (XML's) character set beside the encoding.
size_t decode(std::string_view s, size_t at, uint32_t& cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(at);
  size_t len = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (at + len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(at + i) & 0x3F);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool allowed(uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

}  // namespace

QueueUrl parse_queue_url(const std::string& url) {
  const auto fail = [&]() -> QueueUrl {
    throw Error(ErrorKind::kInvalidInput,
                "'" + url +
                    "' is not a queue URL: expected http(s)://HOST[:PORT]/ACCOUNT/NAME, "
                    "as CreateQueue or GetQueueUrl print it");
  };
  const auto scheme = url.find("://");
  if (scheme == std::string::npos || scheme == 0) return fail();
  const auto path = url.find('/', scheme + 3);
  if (path == std::string::npos || path == scheme + 3) return fail();
  QueueUrl out;
  out.endpoint = url.substr(0, path);
  std::string rest = url.substr(path + 1);
  if (const auto q = rest.find_first_of("?#"); q != std::string::npos) rest.resize(q);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto slash = rest.rfind('/');
  out.name = slash == std::string::npos ? rest : rest.substr(slash + 1);
  if (slash != std::string::npos) out.account = rest.substr(0, slash);
  if (out.name.empty()) return fail();
  return out;
}

bool valid_queue_name(std::string_view name) { return valid_name(name); }
bool valid_batch_entry_id(std::string_view id) { return valid_name(id); }

bool valid_message_text(std::string_view body) {
  for (size_t at = 0; at < body.size();) {
    uint32_t cp = 0;
    const size_t len = decode(body, at, cp);
    if (len == 0 || !allowed(cp)) return false;
    at += len;
  }
  return true;
}

std::string sanitize_message_text(std::string_view body) {
  if (valid_message_text(body)) return std::string(body);
  std::string out;
  out.reserve(body.size() + 16);
  for (size_t at = 0; at < body.size();) {
    uint32_t cp = 0;
    const size_t len = decode(body, at, cp);
    if (len == 0 || !allowed(cp)) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      at += len == 0 ? 1 : len;
    } else {
      out.append(body.substr(at, len));
      at += len;
    }
  }
  return out;
}

void check_message(const OutgoingMessage& m) {
  if (m.body.empty()) throw Error(ErrorKind::kInvalidInput, "a message body must not be empty");
  if (m.body.size() > kMaxMessageBytes)
    throw Error(ErrorKind::kInvalidInput,
                "a message body must be at most 262144 bytes, got " + std::to_string(m.body.size()));
  if (!valid_message_text(m.body))
    throw Error(ErrorKind::kInvalidInput,
                "a message body must be UTF-8 with only the characters SQS accepts (#x9 | #xA | #xD | "
                "#x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF)");
  if (m.delay.count() < 0 || m.delay.count() > kMaxDelaySeconds)
    throw Error(ErrorKind::kInvalidInput,
                "DelaySeconds must be between 0 and 900, got " + std::to_string(m.delay.count()));
}

void check_tags(const QueueTags& existing, const QueueTags& added) {
  size_t total = existing.size();
  for (const auto& [key, value] : added) {
    if (key.empty() || key.size() > kMaxTagKeyChars || !valid_message_text(key))
      throw Error(ErrorKind::kInvalidInput, "a tag key must be 1 to 128 characters of text, got '" +
                                                sanitize_message_text(key.substr(0, 140)) + "'");
    if (value.size() > kMaxTagValueChars || !valid_message_text(value))
      throw Error(ErrorKind::kInvalidInput,
                  "the value of tag '" + key + "' must be at most 256 characters of text");
    if (!existing.count(key)) ++total;
  }
  if (total > kMaxQueueTags)
    throw Error(ErrorKind::kInvalidInput,
                "a queue has at most 50 tags; this would make " + std::to_string(total));
}

void check_receive(const ReceiveOptions& o) {
  if (o.max_messages < 1 || o.max_messages > 10)
    throw Error(ErrorKind::kInvalidInput,
                "MaxNumberOfMessages must be between 1 and 10, got " + std::to_string(o.max_messages));
  if (o.wait.count() < 0 || o.wait > std::chrono::seconds(20))
    throw Error(ErrorKind::kInvalidInput, "WaitTimeSeconds must be between 0 and 20");
  if (o.visibility && (o.visibility->count() < 0 || o.visibility->count() > kMaxVisibilitySeconds))
    throw Error(ErrorKind::kInvalidInput, "VisibilityTimeout must be between 0 and 43200 seconds, got " +
                                              std::to_string(o.visibility->count()));
}

}  // namespace facepipe::queue
