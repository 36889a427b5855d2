#include "server/sqs_protocol.h"

#include <openssl/evp.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <random>
#include <set>

#include "core/error.h"
#include "queue/sqs_rules.h"

namespace facepipe::server {
namespace {

using nlohmann::json;

SqsFault fault(std::string code, std::string legacy, std::string message, int status = 400) {
  return SqsFault{std::move(code), std::move(legacy), std::move(message), status, status < 500};
}

SqsFault missing(const std::string& what) {
  return fault("MissingParameter", "MissingParameter",
               "The request must contain the parameter " + what + ".");
}

SqsFault invalid(const std::string& message) {
  return fault("InvalidParameterValue", "InvalidParameterValue", message);
}

std::string request_id() {
  static std::atomic<uint64_t> counter{std::random_device{}()};
  char buf[64];
  uint64_t v = counter.fetch_add(1);
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-8%03x-%012llx", static_cast<unsigned>(v >> 32),
                static_cast<unsigned>(v & 0xffff), static_cast<unsigned>((v >> 16) & 0xfff),
                static_cast<unsigned>((v >> 4) & 0xfff),
                static_cast<unsigned long long>(v & 0xffffffffffffULL));
  return buf;
}

std::string get_string(const json& req, const char* key) {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) throw missing(key);
  if (!it->is_string()) throw invalid(std::string(key) + " must be a string.");
  return it->get<std::string>();
}

// Integers arrive as JSON numbers (JSON protocol) or strings (query protocol, attributes).
std::optional<int64_t> get_int(const json& req, const char* key) {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      size_t used = 0;
      int64_t v = std::stoll(it->get<std::string>(), &used);
      if (used == it->get<std::string>().size()) return v;
    } catch (...) {
    }
  }
  throw invalid("Value for parameter " + std::string(key) + " is invalid. Reason: must be an integer.");
}

// An integer parameter within [lo, hi], with SQS's wording when it is not.
std::optional<int64_t> get_bounded(const json& req, const char* key, int64_t lo, int64_t hi) {
  auto v = get_int(req, key);
  if (v && (*v < lo || *v > hi))
    throw invalid("Value " + std::to_string(*v) + " for parameter " + key +
                  " is invalid. Reason: Must be >= " + std::to_string(lo) + " and <= " + std::to_string(hi) +
                  ".");
  return v;
}

SqsFault no_queue(const std::string& detail = "") {
  return fault("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
               "The specified queue does not exist" + (detail.empty() ? std::string(".") : ": " + detail));
}

// The queue a QueueUrl names (parse_queue_url is the one parser of queue URLs).
std::string queue_name_from_url(const std::string& url) {
  try {
    return queue::parse_queue_url(url).name;
  } catch (const Error& e) {
    throw no_queue(e.what());
  }
}

// facepipe errors from the store, as SQS faults. `receipt` says the action took a receipt handle, so an
// invalid-input error means the handle is bad.
SqsFault translate(const Error& e, bool receipt = false) {
  switch (e.kind()) {
    case ErrorKind::kNotFound:
      return no_queue(e.what());
    case ErrorKind::kConflict:
      return fault("QueueNameExists", "QueueAlreadyExists", e.what());
    case ErrorKind::kInvalidInput:
      return receipt ? fault("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", e.what())
                     : invalid(e.what());
    case ErrorKind::kTooLarge:
      return invalid(e.what());
    default:
      return fault("ServiceUnavailable", "ServiceUnavailable", e.what(), 503);
  }
}

// Applies CreateQueue/SetQueueAttributes attributes to `c`.
queue::QueueConfig config_from(const json& attributes, queue::QueueConfig c = {}) {
  if (attributes.is_null()) return c;
  if (!attributes.is_object()) throw invalid("Attributes must be a map.");
  if (auto v = get_bounded(attributes, "VisibilityTimeout", 0, queue::kMaxVisibilitySeconds))
    c.visibility_timeout = std::chrono::seconds(*v);
  if (auto v = get_bounded(attributes, "MessageRetentionPeriod", 60, 1209600))
    c.retention = std::chrono::seconds(*v);
  if (auto v = get_bounded(attributes, "DelaySeconds", 0, queue::kMaxDelaySeconds); v && *v != 0)
    throw fault("InvalidAttributeValue", "InvalidAttributeValue",
                "A queue-wide DelaySeconds is not supported by this endpoint; set DelaySeconds per message.");
  if (attributes.contains("RedrivePolicy")) {
    if (!attributes["RedrivePolicy"].is_string()) throw invalid("RedrivePolicy must be a JSON string.");
    const std::string text = attributes["RedrivePolicy"].get<std::string>();
    if (text.empty()) {  // SetQueueAttributes with an empty policy removes it
      c.dead_letter_queue.clear();
      c.max_receive_count = queue::QueueConfig{}.max_receive_count;
      return c;
    }
    const json policy = json::parse(text, nullptr, false);
    if (!policy.is_object())
      throw invalid("RedrivePolicy must be a JSON string with deadLetterTargetArn and maxReceiveCount.");
    auto arn = get_string(policy, "deadLetterTargetArn");
    c.dead_letter_queue = arn.substr(arn.find_last_of(':') + 1);
    auto count = get_int(policy, "maxReceiveCount");
    if (!count || *count < 1 || *count > 1000) throw invalid("maxReceiveCount must be between 1 and 1000.");
    c.max_receive_count = static_cast<int>(*count);
  }
  return c;
}

// Text for XML: invalid UTF-8 and characters XML 1.0 cannot hold become U+FFFD, then the markup is escaped.
void xml_escape(std::string& out, const std::string& raw) {
  const std::string s = queue::sanitize_message_text(raw);
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#xD;";
        break;
      default:
        out += c;
    }
  }
}

void tag(std::string& out, const std::string& name, const std::string& value) {
  out += "<" + name + ">";
  xml_escape(out, value);
  out += "</" + name + ">";
}

std::string text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Serialises a reply; bytes that are not UTF-8 become U+FFFD instead of throwing (nlohmann's default).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// ---- the query protocol's <Result> bodies (the JSON answers' shapes map one to one) ----

using XmlWriter = void (*)(std::string&, const json&);

void xml_nothing(std::string&, const json&) {}

void xml_queue_url(std::string& x, const json& r) { tag(x, "QueueUrl", r.value("QueueUrl", "")); }

void xml_queue_urls(std::string& x, const json& r) {
  for (auto& u : r.value("QueueUrls", json::array())) tag(x, "QueueUrl", text(u));
}

void xml_sent(std::string& x, const json& r) {
  tag(x, "MessageId", text(r["MessageId"]));
  tag(x, "MD5OfMessageBody", text(r["MD5OfMessageBody"]));
}

void xml_batch(std::string& x, const json& r, const char* ok) {
  for (auto& e : r["Successful"]) {
    x += std::string("<") + ok + ">";
    for (auto& [k, v] : e.items()) tag(x, k, text(v));
    x += std::string("</") + ok + ">";
  }
  for (auto& e : r["Failed"]) {
    x += "<BatchResultErrorEntry>";
    tag(x, "Id", text(e["Id"]));
    tag(x, "SenderFault", e["SenderFault"].get<bool>() ? "true" : "false");
    tag(x, "Code", text(e["Code"]));
    tag(x, "Message", text(e["Message"]));
    x += "</BatchResultErrorEntry>";
  }
}
void xml_send_batch(std::string& x, const json& r) { xml_batch(x, r, "SendMessageBatchResultEntry"); }
void xml_delete_batch(std::string& x, const json& r) { xml_batch(x, r, "DeleteMessageBatchResultEntry"); }

void xml_attributes(std::string& x, const json& attributes) {
  for (auto& [k, v] : attributes.items()) {
    x += "<Attribute>";
    tag(x, "Name", k);
    tag(x, "Value", text(v));
    x += "</Attribute>";
  }
}

void xml_messages(std::string& x, const json& r) {
  for (auto& m : r.value("Messages", json::array())) {
    x += "<Message>";
    tag(x, "MessageId", text(m["MessageId"]));
    tag(x, "ReceiptHandle", text(m["ReceiptHandle"]));
    tag(x, "MD5OfBody", text(m["MD5OfBody"]));
    tag(x, "Body", text(m["Body"]));
    xml_attributes(x, m["Attributes"]);
    x += "</Message>";
  }
}

void xml_queue_attributes(std::string& x, const json& r) {
  xml_attributes(x, r.value("Attributes", json::object()));
}

void xml_tags(std::string& x, const json& r) {
  const json tags = r.value("Tags", json::object());
  for (auto& [k, v] : tags.items()) {
    x += "<Tag>";
    tag(x, "Key", k);
    tag(x, "Value", text(v));
    x += "</Tag>";
  }
}

// ---- query-protocol parameters -> the JSON-protocol request shape ----

using Params = std::multimap<std::string, std::string>;

// "<prefix><N>.<rest>" parameters grouped by N (in N's order), e.g. Attribute.1.Name, Attribute.1.Value.
std::map<long, std::map<std::string, std::string>> indexed(const Params& params, const std::string& prefix) {
  std::map<long, std::map<std::string, std::string>> out;
  for (auto it = params.lower_bound(prefix); it != params.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    const std::string rest = it->first.substr(prefix.size());
    size_t used = 0;
    long n = 0;
    try {
      n = std::stol(rest, &used);
    } catch (const std::exception&) {
      continue;
    }
    if (n < 1) continue;
    out[n][used < rest.size() && rest[used] == '.' ? rest.substr(used + 1) : ""] = it->second;
  }
  return out;
}

// MessageAttribute.N.{Name, Value.DataType, Value.StringValue, Value.BinaryValue} -> MessageAttributes.
json message_attributes(const Params& params, const std::string& prefix) {
  json attrs = json::object();
  for (auto& [n, fields] : indexed(params, prefix)) {
    json value = json::object();
    for (auto& [field, v] : fields)
      if (field.rfind("Value.", 0) == 0) value[field.substr(6)] = v;
    attrs[fields.count("Name") ? fields.at("Name") : "#" + std::to_string(n)] = value;
  }
  return attrs;
}

json query_to_json(const std::string& action, const Params& params) {
  json req = json::object();
  auto one = [&](const std::string& k) -> std::optional<std::string> {
    auto it = params.find(k);
    if (it == params.end()) return std::nullopt;
    return it->second;
  };
  for (const char* k : {"QueueName", "QueueUrl", "QueueNamePrefix", "MessageBody", "ReceiptHandle",
                        "MaxNumberOfMessages", "WaitTimeSeconds", "VisibilityTimeout", "DelaySeconds"})
    if (auto v = one(k)) req[k] = *v;
  for (auto& [n, fields] : indexed(params, "Attribute."))
    if (fields.count("Name")) req["Attributes"][fields["Name"]] = fields["Value"];
  for (auto& [n, fields] : indexed(params, "AttributeName.")) req["AttributeNames"].push_back(fields[""]);
  if (json attrs = message_attributes(params, "MessageAttribute."); !attrs.empty())
    req["MessageAttributes"] = attrs;
  for (auto& [n, fields] : indexed(params, "Tag."))
    if (fields.count("Key")) req["Tags"][fields["Key"]] = fields.count("Value") ? fields["Value"] : "";
  const std::string prefix = action == "SendMessageBatch"     ? "SendMessageBatchRequestEntry."
                             : action == "DeleteMessageBatch" ? "DeleteMessageBatchRequestEntry."
                                                              : "";
  if (!prefix.empty()) {
    req["Entries"] = json::array();
    for (auto& [n, fields] : indexed(params, prefix)) {
      json e = json::object();
      for (const char* k : {"Id", "MessageBody", "ReceiptHandle", "DelaySeconds"})
        if (fields.count(k)) e[k] = fields[k];
      const std::string entry = prefix + std::to_string(n) + ".";
      if (json attrs = message_attributes(params, entry + "MessageAttribute."); !attrs.empty())
        e["MessageAttributes"] = attrs;
      req["Entries"].push_back(e);
    }
  }
  return req;
}

// ---- the actions ----

using Handler = json (*)(SqsProtocol&, const json&);

std::shared_ptr<queue::Queue> open(SqsProtocol& sqs, const json& req) {
  return sqs.queues().get(queue_name_from_url(get_string(req, "QueueUrl")));
}

json create_queue(SqsProtocol& sqs, const json& req) {
  auto name = get_string(req, "QueueName");
  if (!queue::valid_queue_name(name))
    throw invalid("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
  sqs.queues().create(name, config_from(req.value("Attributes", json())));
  return {{"QueueUrl", sqs.queue_url(name)}};
}

json get_queue_url(SqsProtocol& sqs, const json& req) {
  auto name = get_string(req, "QueueName");
  sqs.queues().get(name);
  return {{"QueueUrl", sqs.queue_url(name)}};
}

json list_queues(SqsProtocol& sqs, const json& req) {
  json urls = json::array();
  const json prefix = req.value("QueueNamePrefix", json(""));
  if (!prefix.is_string()) throw invalid("QueueNamePrefix must be a string.");
  for (auto& n : sqs.queues().list(prefix.get<std::string>())) urls.push_back(sqs.queue_url(n));
  return urls.empty() ? json::object() : json{{"QueueUrls", urls}};
}

json delete_queue(SqsProtocol& sqs, const json& req) {
  sqs.queues().remove_queue(queue_name_from_url(get_string(req, "QueueUrl")));
  return json::object();
}

// The checks SendMessage and each SendMessageBatch entry share; the fault to report, if any.
std::optional<SqsFault> check_message(const json& m, const std::string& body) {
  if (body.empty()) return missing("MessageBody");
  if (body.size() > queue::kMaxMessageBytes)
    return invalid("One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.");
  if (!queue::valid_message_text(body))
    return fault(
        "InvalidMessageContents", "InvalidMessageContents",
        "Invalid binary character was found in the message body: a message must be UTF-8 and the set "
        "of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to "
        "#x10FFFF");
  try {
    get_bounded(m, "DelaySeconds", 0, queue::kMaxDelaySeconds);
  } catch (const SqsFault& f) {
    return f;
  }
  if (auto it = m.find("MessageAttributes"); it != m.end() && !it->is_null()) {
    if (!it->is_object()) return invalid("MessageAttributes must be a map.");
    if (it->size() > queue::kMaxMessageAttributes)
      return invalid("Number of message attributes [" + std::to_string(it->size()) +
                     "] exceeds the allowed maximum [10].");
  }
  return std::nullopt;
}

std::chrono::seconds delay_of(const json& m) {
  return std::chrono::seconds(get_int(m, "DelaySeconds").value_or(0));
}

json send_message(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  auto body = get_string(req, "MessageBody");
  if (auto f = check_message(req, body)) throw *f;
  return {{"MessageId", q->send(body, delay_of(req))}, {"MD5OfMessageBody", md5_hex(body)}};
}

// A batch's entries after SQS's batch-level rules: 1..10 entries, each an object with a well-formed Id,
// no Id twice.
json batch_entries(const json& req, const char* entry_name) {
  const json entries = req.value("Entries", json::array());
  if (!entries.is_array()) throw invalid("Entries must be a list.");
  if (entries.empty())
    throw fault("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
                std::string("There should be at least one ") + entry_name + " in the request.");
  if (entries.size() > queue::kMaxBatchEntries)
    throw fault("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                "Maximum number of entries per request are 10. You have sent " +
                    std::to_string(entries.size()) + ".");
  std::set<std::string> ids;
  for (auto& e : entries) {
    if (!e.is_object()) throw invalid(std::string(entry_name) + " must be a structure.");
    const auto id = get_string(e, "Id");
    if (!queue::valid_batch_entry_id(id))
      throw fault(
          "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
          "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be "
          "at most 80 letters long.");
    if (!ids.insert(id).second)
      throw fault("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                  "Id " + id + " repeated.");
  }
  return entries;
}

json failed_entry(const std::string& id, const SqsFault& f) {
  return {{"Id", id}, {"SenderFault", f.sender}, {"Code", f.code}, {"Message", f.message}};
}

json send_message_batch(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  const json entries = batch_entries(req, "SendMessageBatchRequestEntry");
  size_t total = 0;
  for (auto& e : entries) total += get_string(e, "MessageBody").size();
  if (total > queue::kMaxMessageBytes)
    throw fault("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
                "Batch requests cannot be longer than 262144 bytes. You have sent " + std::to_string(total) +
                    " bytes.");
  json ok = json::array(), failed = json::array();
  std::vector<queue::OutgoingMessage> messages;
  std::vector<std::string> ids;
  for (auto& e : entries) {
    auto id = get_string(e, "Id");
    auto body = get_string(e, "MessageBody");
    if (auto f = check_message(e, body)) {
      failed.push_back(failed_entry(id, *f));
      continue;
    }
    ids.push_back(id);
    messages.push_back({body, delay_of(e)});
  }
  if (!messages.empty()) {
    auto sent = q->send_messages(messages);
    for (size_t i = 0; i < sent.size(); ++i)
      ok.push_back({{"Id", ids[i]}, {"MessageId", sent[i]}, {"MD5OfMessageBody", md5_hex(messages[i].body)}});
  }
  return {{"Successful", ok}, {"Failed", failed}};
}

json receive_message(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  queue::ReceiveOptions o;
  o.max_messages = static_cast<int>(get_int(req, "MaxNumberOfMessages").value_or(1));
  if (o.max_messages < 1 || o.max_messages > 10)
    throw fault("ReadCountOutOfRange", "ReadCountOutOfRange",
                "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.");
  o.wait = std::min(std::chrono::seconds(get_bounded(req, "WaitTimeSeconds", 0, 20).value_or(0)),
                    sqs.long_poll_cap());
  if (auto v = get_bounded(req, "VisibilityTimeout", 0, queue::kMaxVisibilitySeconds))
    o.visibility = std::chrono::seconds(*v);
  json messages = json::array();
  for (auto& m : q->receive(o)) {
    // A body stored before sends were checked may hold bytes no reply can carry: deliver it readable
    // (U+FFFD for each bad sequence) with the MD5 of what is delivered, so it cannot block the queue.
    const std::string body = queue::sanitize_message_text(m.body);
    messages.push_back({{"MessageId", m.id},
                        {"ReceiptHandle", m.receipt_handle},
                        {"MD5OfBody", md5_hex(body)},
                        {"Body", body},
                        {"Attributes",
                         {{"ApproximateReceiveCount", std::to_string(m.receive_count)},
                          {"SentTimestamp", std::to_string(m.sent_timestamp_ms)}}}});
  }
  return messages.empty() ? json::object() : json{{"Messages", messages}};
}

json delete_message(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  auto handle = get_string(req, "ReceiptHandle");
  try {
    q->remove(handle);
  } catch (const Error& e) {
    throw translate(e, true);
  }
  return json::object();
}

json delete_message_batch(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  const json entries = batch_entries(req, "DeleteMessageBatchRequestEntry");
  json ok = json::array(), failed = json::array();
  for (auto& e : entries) {
    auto id = get_string(e, "Id");
    try {
      q->remove(get_string(e, "ReceiptHandle"));
      ok.push_back({{"Id", id}});
    } catch (const Error& err) {
      if (err.kind() == ErrorKind::kNotFound) throw translate(err);
      failed.push_back(failed_entry(id, translate(err, true)));
    } catch (const SqsFault& f) {
      failed.push_back(failed_entry(id, f));
    }
  }
  return {{"Successful", ok}, {"Failed", failed}};
}

json change_message_visibility(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  auto handle = get_string(req, "ReceiptHandle");
  auto timeout = get_bounded(req, "VisibilityTimeout", 0, queue::kMaxVisibilitySeconds);
  if (!timeout) throw missing("VisibilityTimeout");
  try {
    q->change_visibility(handle, std::chrono::seconds(*timeout));
  } catch (const Error& e) {
    throw translate(e, true);
  }
  return json::object();
}

json purge_queue(SqsProtocol& sqs, const json& req) {
  open(sqs, req)->purge();
  return json::object();
}

json get_queue_attributes(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  const auto stats = q->stats();
  const auto config = q->config();
  const std::string arn_prefix = "arn:aws:sqs:us-east-1:" + sqs.account() + ":";
  json all = {{"ApproximateNumberOfMessages", std::to_string(stats.visible)},
              {"ApproximateNumberOfMessagesNotVisible", std::to_string(stats.in_flight)},
              {"ApproximateNumberOfMessagesDelayed", std::to_string(stats.delayed)},
              {"VisibilityTimeout", std::to_string(config.visibility_timeout.count())},
              {"MessageRetentionPeriod", std::to_string(config.retention.count())},
              {"DelaySeconds", "0"},
              {"MaximumMessageSize", std::to_string(queue::kMaxMessageBytes)},
              {"QueueArn", arn_prefix + q->name()}};
  if (!config.dead_letter_queue.empty() && config.max_receive_count > 0)
    all["RedrivePolicy"] = dump(json{{"deadLetterTargetArn", arn_prefix + config.dead_letter_queue},
                                     {"maxReceiveCount", config.max_receive_count}});
  const json names = req.value("AttributeNames", json::array());
  if (!names.is_array()) throw invalid("AttributeNames must be a list.");
  json out = json::object();
  for (auto& n : names) {
    if (!n.is_string()) throw invalid("AttributeNames must be strings.");
    if (n == "All") return {{"Attributes", all}};
    if (all.contains(n.get<std::string>())) out[n.get<std::string>()] = all[n.get<std::string>()];
  }
  return out.empty() ? json::object() : json{{"Attributes", out}};
}

json set_queue_attributes(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  const json attributes = req.value("Attributes", json::object());
  sqs.queues().set_config(q->name(), config_from(attributes, q->config()));
  return json::object();
}

// Tags: a JSON object of strings (the JSON protocol) or Tag.N.Key/Tag.N.Value (query_to_json maps them).
json tag_queue(SqsProtocol& sqs, const json& req) {
  auto q = open(sqs, req);
  const json tags = req.value("Tags", json());
  if (!tags.is_object() || tags.empty()) throw missing("Tags");
  queue::QueueTags added;
  for (const auto& [key, value] : tags.items()) {
    if (!value.is_string()) throw invalid("Tag values must be strings.");
    added[key] = value.get<std::string>();
  }
  q->tag(added);
  return json::object();
}

json list_queue_tags(SqsProtocol& sqs, const json& req) {
  auto tags = open(sqs, req)->tags();
  return tags.empty() ? json::object() : json{{"Tags", tags}};
}

struct Action {
  Handler run;
  XmlWriter xml;  // the query protocol's <ActionResult> content
};

// Action name -> handler: one table for both protocols (Envoy/ncnn-style registry instead of an if-chain).
const std::map<std::string, Action, std::less<>>& actions() {
  static const std::map<std::string, Action, std::less<>> table = {
      {"CreateQueue", {create_queue, xml_queue_url}},
      {"GetQueueUrl", {get_queue_url, xml_queue_url}},
      {"ListQueues", {list_queues, xml_queue_urls}},
      {"DeleteQueue", {delete_queue, xml_nothing}},
      {"SendMessage", {send_message, xml_sent}},
      {"SendMessageBatch", {send_message_batch, xml_send_batch}},
      {"ReceiveMessage", {receive_message, xml_messages}},
      {"DeleteMessage", {delete_message, xml_nothing}},
      {"DeleteMessageBatch", {delete_message_batch, xml_delete_batch}},
      {"ChangeMessageVisibility", {change_message_visibility, xml_nothing}},
      {"PurgeQueue", {purge_queue, xml_nothing}},
      {"GetQueueAttributes", {get_queue_attributes, xml_queue_attributes}},
      {"SetQueueAttributes", {set_queue_attributes, xml_nothing}},
      {"TagQueue", {tag_queue, xml_nothing}},
      {"ListQueueTags", {list_queue_tags, xml_tags}},
  };
  return table;
}

const Action& find_action(const std::string& action) {
  const auto it = actions().find(action);
  if (it == actions().end())
    throw fault("InvalidAction", "InvalidAction",
                "The action " + action + " is not valid for this endpoint.");
  return it->second;
}

}  // namespace

std::string xml_text(const std::string& raw) {
  std::string out;
  xml_escape(out, raw);
  return out;
}

std::string md5_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

SqsProtocol::SqsProtocol(queue::QueueService& queues, std::string base_url, std::string account)
    : queues_(queues), base_url_(std::move(base_url)), account_(std::move(account)) {}

std::string SqsProtocol::queue_url(const std::string& name) const {
  return base_url_ + "/" + account_ + "/" + name;
}

json SqsProtocol::run(const std::string& action, const json& req) {
  const Action& a = find_action(action);
  if (!req.is_object()) throw invalid("The request body must be a JSON object.");
  try {
    return a.run(*this, req);
  } catch (const Error& e) {
    throw translate(e);
  } catch (const json::exception& e) {
    throw invalid(std::string("Malformed parameter: ") + e.what());
  }
}

SqsReply SqsProtocol::handle_json(const std::string& target, const std::string& body) {
  SqsReply reply;
  reply.content_type = "application/x-amz-json-1.0";
  reply.headers["x-amzn-RequestId"] = request_id();
  const std::string prefix = "AmazonSQS.";
  try {
    if (target.rfind(prefix, 0) != 0)
      throw fault("UnknownOperationException", "InvalidAction", "Unknown X-Amz-Target '" + target + "'.");
    json req;
    try {
      req = body.empty() ? json::object() : json::parse(body);
    } catch (const json::exception&) {
      throw fault("SerializationException", "InvalidParameterValue", "The request body is not valid JSON.");
    }
    reply.body = dump(run(target.substr(prefix.size()), req));
  } catch (const SqsFault& f) {
    SqsReply error = fault_reply(f, true);
    error.headers["x-amzn-RequestId"] = reply.headers["x-amzn-RequestId"];
    return error;
  }
  return reply;
}

Response to_response(const SqsReply& reply) {
  Response r;
  r.status = reply.status;
  r.content_type = reply.content_type;
  r.body = reply.body;
  for (const auto& [k, v] : reply.headers) r.headers.emplace_back(k, v);
  return r;
}

SqsReply fault_reply(const SqsFault& f, bool json_protocol) {
  SqsReply reply;
  reply.status = f.status;
  const std::string rid = request_id();
  reply.headers["x-amzn-RequestId"] = rid;
  if (json_protocol) {
    reply.content_type = "application/x-amz-json-1.0";
    reply.headers["x-amzn-query-error"] = f.legacy_code + (f.sender ? ";Sender" : ";Receiver");
    reply.body = dump(json{{"__type", "com.amazonaws.sqs#" + f.code}, {"message", f.message}});
    return reply;
  }
  reply.content_type = "text/xml";
  std::string x =
      "<?xml version=\"1.0\"?><ErrorResponse "
      "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>";
  x += f.sender ? "Sender" : "Receiver";
  x += "</Type>";
  tag(x, "Code", f.legacy_code);
  tag(x, "Message", f.message);
  x += "<Detail/></Error><RequestId>" + rid + "</RequestId></ErrorResponse>";
  reply.body = x;
  return reply;
}

SqsReply SqsProtocol::handle_query(const std::multimap<std::string, std::string>& params,
                                   const std::string& path) {
  SqsReply reply;
  reply.content_type = "text/xml";
  std::string rid = request_id();
  reply.headers["x-amzn-RequestId"] = rid;
  auto it = params.find("Action");
  std::string action = it == params.end() ? "" : it->second;
  try {
    if (action.empty()) throw missing("Action");
    const Action& a = find_action(action);  // before `action` is written into the XML as an element name
    json req = query_to_json(action, params);
    if (!req.contains("QueueUrl") && path.size() > 1) req["QueueUrl"] = base_url_ + path;
    json result = run(action, req);
    std::string x;
    a.xml(x, result);
    std::string ns = "http://queue.amazonaws.com/doc/2012-11-05/";
    reply.body = "<?xml version=\"1.0\"?><" + action + "Response xmlns=\"" + ns + "\"><" + action +
                 "Result>" + x + "</" + action + "Result><ResponseMetadata><RequestId>" + rid +
                 "</RequestId></ResponseMetadata></" + action + "Response>";
  } catch (const SqsFault& f) {
    return fault_reply(f, false);
  }
  return reply;
}

}  // namespace facepipe::server
