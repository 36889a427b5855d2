#include "server/sqs_protocol.h"

#include <openssl/evp.h>

#include <atomic>
#include <cstdio>
#include <random>

#include "core/error.h"

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

std::string queue_name_from_url(const std::string& url) {
  auto end = url.find_last_not_of('/');
  if (end == std::string::npos)
    throw fault("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
                "The specified queue does not exist.");
  auto start = url.find_last_of('/', end);
  return url.substr(start == std::string::npos ? 0 : start + 1,
                    end - (start == std::string::npos ? 0 : start + 1) + 1);
}

// facepipe errors from the store, as SQS faults. `receipt` says the action took a receipt handle, so an
// invalid-input error means the handle is bad.
SqsFault translate(const Error& e, bool receipt = false) {
  switch (e.kind()) {
    case ErrorKind::kNotFound:
      return fault("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
                   std::string("The specified queue does not exist: ") + e.what());
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

queue::QueueConfig config_from(const json& attributes) {
  queue::QueueConfig c;
  if (attributes.is_null()) return c;
  if (!attributes.is_object()) throw invalid("Attributes must be a map.");
  if (auto v = get_int(attributes, "VisibilityTimeout")) c.visibility_timeout = std::chrono::seconds(*v);
  if (auto v = get_int(attributes, "MessageRetentionPeriod")) {
    if (*v < 60 || *v > 1209600)
      throw invalid("MessageRetentionPeriod must be between 60 and 1209600 seconds.");
    c.retention = std::chrono::seconds(*v);
  }
  if (attributes.contains("RedrivePolicy")) {
    json policy;
    try {
      policy = json::parse(attributes["RedrivePolicy"].get<std::string>());
    } catch (const std::exception&) {
      throw invalid("RedrivePolicy must be a JSON string with deadLetterTargetArn and maxReceiveCount.");
    }
    auto arn = get_string(policy, "deadLetterTargetArn");
    c.dead_letter_queue = arn.substr(arn.find_last_of(':') + 1);
    auto count = get_int(policy, "maxReceiveCount");
    if (!count || *count < 1 || *count > 1000) throw invalid("maxReceiveCount must be between 1 and 1000.");
    c.max_receive_count = static_cast<int>(*count);
  }
  return c;
}

void xml_escape(std::string& out, const std::string& s) {
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

// JSON-protocol answer -> the query protocol's <Result> body (the shapes map one to one).
std::string result_xml(const std::string& action, const json& r) {
  std::string x;
  if (action == "CreateQueue" || action == "GetQueueUrl") {
    tag(x, "QueueUrl", r.value("QueueUrl", ""));
  } else if (action == "ListQueues") {
    for (auto& u : r.value("QueueUrls", json::array())) tag(x, "QueueUrl", u.get<std::string>());
  } else if (action == "SendMessage") {
    tag(x, "MessageId", r["MessageId"]);
    tag(x, "MD5OfMessageBody", r["MD5OfMessageBody"]);
  } else if (action == "SendMessageBatch" || action == "DeleteMessageBatch") {
    const char* ok =
        action == "SendMessageBatch" ? "SendMessageBatchResultEntry" : "DeleteMessageBatchResultEntry";
    for (auto& e : r["Successful"]) {
      x += std::string("<") + ok + ">";
      for (auto& [k, v] : e.items()) tag(x, k, v.get<std::string>());
      x += std::string("</") + ok + ">";
    }
    for (auto& e : r["Failed"]) {
      x += "<BatchResultErrorEntry>";
      tag(x, "Id", e["Id"]);
      tag(x, "SenderFault", e["SenderFault"].get<bool>() ? "true" : "false");
      tag(x, "Code", e["Code"]);
      tag(x, "Message", e["Message"]);
      x += "</BatchResultErrorEntry>";
    }
  } else if (action == "ReceiveMessage") {
    for (auto& m : r.value("Messages", json::array())) {
      x += "<Message>";
      tag(x, "MessageId", m["MessageId"]);
      tag(x, "ReceiptHandle", m["ReceiptHandle"]);
      tag(x, "MD5OfBody", m["MD5OfBody"]);
      tag(x, "Body", m["Body"]);
      for (auto& [k, v] : m["Attributes"].items()) {
        x += "<Attribute>";
        tag(x, "Name", k);
        tag(x, "Value", v.get<std::string>());
        x += "</Attribute>";
      }
      x += "</Message>";
    }
  } else if (action == "GetQueueAttributes") {
    for (auto& [k, v] : r["Attributes"].items()) {
      x += "<Attribute>";
      tag(x, "Name", k);
      tag(x, "Value", v.get<std::string>());
      x += "</Attribute>";
    }
  }
  return x;
}

// Query-protocol parameters -> the JSON-protocol request shape.
json query_to_json(const std::string& action, const std::multimap<std::string, std::string>& params) {
  json req = json::object();
  auto one = [&](const std::string& k) -> std::optional<std::string> {
    auto it = params.find(k);
    if (it == params.end()) return std::nullopt;
    return it->second;
  };
  for (const char* k : {"QueueName", "QueueUrl", "QueueNamePrefix", "MessageBody", "ReceiptHandle",
                        "MaxNumberOfMessages", "WaitTimeSeconds", "VisibilityTimeout", "DelaySeconds"})
    if (auto v = one(k)) req[k] = *v;
  // Attribute.N.Name/Value -> Attributes; AttributeName.N -> AttributeNames.
  for (int i = 1; i <= 64; ++i) {
    auto n = one("Attribute." + std::to_string(i) + ".Name");
    if (!n) break;
    req["Attributes"][*n] = one("Attribute." + std::to_string(i) + ".Value").value_or("");
  }
  for (int i = 1; i <= 64; ++i) {
    auto n = one("AttributeName." + std::to_string(i));
    if (!n) break;
    req["AttributeNames"].push_back(*n);
  }
  std::string prefix = action == "SendMessageBatch"     ? "SendMessageBatchRequestEntry."
                       : action == "DeleteMessageBatch" ? "DeleteMessageBatchRequestEntry."
                                                        : "";
  if (!prefix.empty()) {
    req["Entries"] = json::array();
    for (int i = 1; i <= 10; ++i) {
      std::string p = prefix + std::to_string(i) + ".";
      auto id = one(p + "Id");
      if (!id) break;
      json e = {{"Id", *id}};
      if (auto b = one(p + "MessageBody")) e["MessageBody"] = *b;
      if (auto h = one(p + "ReceiptHandle")) e["ReceiptHandle"] = *h;
      req["Entries"].push_back(e);
    }
  }
  return req;
}

}  // namespace

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
  if (!req.is_object()) throw invalid("The request body must be a JSON object.");
  auto open = [&] {
    try {
      return queues_.get(queue_name_from_url(get_string(req, "QueueUrl")));
    } catch (const Error& e) {
      throw translate(e);
    }
  };
  // SQS caps a message at 256 KiB.
  constexpr size_t kMaxBody = 262144;
  try {
    if (action == "CreateQueue") {
      auto name = get_string(req, "QueueName");
      queues_.create(name, config_from(req.value("Attributes", json())));
      return {{"QueueUrl", queue_url(name)}};
    }
    if (action == "GetQueueUrl") {
      auto name = get_string(req, "QueueName");
      queues_.get(name);
      return {{"QueueUrl", queue_url(name)}};
    }
    if (action == "ListQueues") {
      json urls = json::array();
      for (auto& n : queues_.list(req.value("QueueNamePrefix", ""))) urls.push_back(queue_url(n));
      return urls.empty() ? json::object() : json{{"QueueUrls", urls}};
    }
    if (action == "DeleteQueue") {
      queues_.remove_queue(queue_name_from_url(get_string(req, "QueueUrl")));
      return json::object();
    }
    if (action == "SendMessage") {
      auto q = open();
      auto body = get_string(req, "MessageBody");
      if (body.empty()) throw missing("MessageBody");
      if (body.size() > kMaxBody)
        throw invalid(
            "One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.");
      return {{"MessageId", q->send(body)}, {"MD5OfMessageBody", md5_hex(body)}};
    }
    if (action == "SendMessageBatch") {
      auto q = open();
      auto entries = req.value("Entries", json::array());
      if (entries.empty())
        throw fault("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
                    "There should be at least one SendMessageBatchRequestEntry in the request.");
      if (entries.size() > 10)
        throw fault("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                    "Maximum number of entries per request are 10.");
      json ok = json::array(), failed = json::array();
      std::vector<std::string> bodies, ids;
      for (auto& e : entries) {
        auto id = get_string(e, "Id");
        auto body = get_string(e, "MessageBody");
        if (body.empty() || body.size() > kMaxBody) {
          failed.push_back({{"Id", id},
                            {"SenderFault", true},
                            {"Code", "InvalidParameterValue"},
                            {"Message", "MessageBody must be 1 to 262144 bytes."}});
          continue;
        }
        ids.push_back(id);
        bodies.push_back(body);
      }
      auto sent = q->send_batch(bodies);
      for (size_t i = 0; i < sent.size(); ++i)
        ok.push_back({{"Id", ids[i]}, {"MessageId", sent[i]}, {"MD5OfMessageBody", md5_hex(bodies[i])}});
      return {{"Successful", ok}, {"Failed", failed}};
    }
    if (action == "ReceiveMessage") {
      auto q = open();
      queue::ReceiveOptions o;
      o.max_messages = static_cast<int>(get_int(req, "MaxNumberOfMessages").value_or(1));
      if (o.max_messages < 1 || o.max_messages > 10)
        throw fault("ReadCountOutOfRange", "ReadCountOutOfRange",
                    "Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.");
      auto wait = get_int(req, "WaitTimeSeconds").value_or(0);
      if (wait < 0 || wait > 20)
        throw invalid("Value for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20.");
      o.wait = std::chrono::seconds(wait);
      if (auto v = get_int(req, "VisibilityTimeout")) o.visibility = std::chrono::seconds(*v);
      json messages = json::array();
      for (auto& m : q->receive(o)) {
        messages.push_back({{"MessageId", m.id},
                            {"ReceiptHandle", m.receipt_handle},
                            {"MD5OfBody", md5_hex(m.body)},
                            {"Body", m.body},
                            {"Attributes",
                             {{"ApproximateReceiveCount", std::to_string(m.receive_count)},
                              {"SentTimestamp", std::to_string(m.sent_timestamp_ms)}}}});
      }
      return messages.empty() ? json::object() : json{{"Messages", messages}};
    }
    if (action == "DeleteMessage") {
      auto q = open();
      auto handle = get_string(req, "ReceiptHandle");
      try {
        q->remove(handle);
      } catch (const Error& e) {
        throw translate(e, true);
      }
      return json::object();
    }
    if (action == "DeleteMessageBatch") {
      auto q = open();
      auto entries = req.value("Entries", json::array());
      if (entries.empty())
        throw fault("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
                    "There should be at least one DeleteMessageBatchRequestEntry in the request.");
      if (entries.size() > 10)
        throw fault("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                    "Maximum number of entries per request are 10.");
      json ok = json::array(), failed = json::array();
      for (auto& e : entries) {
        auto id = get_string(e, "Id");
        try {
          q->remove(get_string(e, "ReceiptHandle"));
          ok.push_back({{"Id", id}});
        } catch (const Error& err) {
          failed.push_back({{"Id", id},
                            {"SenderFault", true},
                            {"Code", "ReceiptHandleIsInvalid"},
                            {"Message", err.what()}});
        }
      }
      return {{"Successful", ok}, {"Failed", failed}};
    }
    if (action == "ChangeMessageVisibility") {
      auto q = open();
      auto handle = get_string(req, "ReceiptHandle");
      auto timeout = get_int(req, "VisibilityTimeout");
      if (!timeout) throw missing("VisibilityTimeout");
      if (*timeout < 0 || *timeout > 43200)
        throw invalid("VisibilityTimeout must be between 0 and 43200 seconds.");
      try {
        q->change_visibility(handle, std::chrono::seconds(*timeout));
      } catch (const Error& e) {
        throw translate(e, true);
      }
      return json::object();
    }
    if (action == "PurgeQueue") {
      open()->purge();
      return json::object();
    }
    if (action == "GetQueueAttributes") {
      auto q = open();
      auto stats = q->stats();
      json all = {{"ApproximateNumberOfMessages", std::to_string(stats.visible)},
                  {"ApproximateNumberOfMessagesNotVisible", std::to_string(stats.in_flight)},
                  {"ApproximateNumberOfMessagesDelayed", "0"},
                  {"QueueArn", "arn:aws:sqs:us-east-1:" + account_ + ":" + q->name()}};
      json names = req.value("AttributeNames", json::array());
      json out = json::object();
      for (auto& n : names) {
        if (!n.is_string()) throw invalid("AttributeNames must be strings.");
        if (n == "All") return {{"Attributes", all}};
        if (all.contains(n.get<std::string>())) out[n.get<std::string>()] = all[n.get<std::string>()];
      }
      return out.empty() ? json::object() : json{{"Attributes", out}};
    }
  } catch (const Error& e) {
    throw translate(e);
  } catch (const json::exception& e) {
    throw invalid(std::string("Malformed parameter: ") + e.what());
  }
  throw fault("InvalidAction", "InvalidAction", "The action " + action + " is not valid for this endpoint.");
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
    reply.body = run(target.substr(prefix.size()), req).dump();
  } catch (const SqsFault& f) {
    reply.status = f.status;
    reply.headers["x-amzn-query-error"] = f.legacy_code + (f.sender ? ";Sender" : ";Receiver");
    reply.body = json{{"__type", "com.amazonaws.sqs#" + f.code}, {"message", f.message}}.dump();
  }
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
    json req = query_to_json(action, params);
    if (!req.contains("QueueUrl") && path.size() > 1) req["QueueUrl"] = base_url_ + path;
    json result = run(action, req);
    std::string ns = "http://queue.amazonaws.com/doc/2012-11-05/";
    reply.body = "<?xml version=\"1.0\"?><" + action + "Response xmlns=\"" + ns + "\"><" + action +
                 "Result>" + result_xml(action, result) + "</" + action +
                 "Result><ResponseMetadata><RequestId>" + rid + "</RequestId></ResponseMetadata></" + action +
                 "Response>";
  } catch (const SqsFault& f) {
    reply.status = f.status;
    std::string x =
        "<?xml version=\"1.0\"?><ErrorResponse "
        "xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>";
    x += f.sender ? "Sender" : "Receiver";
    x += "</Type>";
    tag(x, "Code", f.legacy_code);
    tag(x, "Message", f.message);
    x += "<Detail/></Error><RequestId>" + rid + "</RequestId></ErrorResponse>";
    reply.body = x;
  }
  return reply;
}

}  // namespace facepipe::server
