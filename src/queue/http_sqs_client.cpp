#include "queue/http_sqs_client.h"

#include <httplib.h>

#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace facepipe::queue {
namespace {

using nlohmann::json;

class Endpoint {
 public:
  explicit Endpoint(const std::string& endpoint) {
    auto scheme_end = endpoint.find("://");
    if (endpoint.rfind("http://", 0) != 0)
      throw Error(ErrorKind::kInvalidInput,
                  "the plain SQS client speaks http:// only, not '" + endpoint + "'");
    auto host_end = endpoint.find('/', scheme_end + 3);
    base_ = endpoint.substr(0, host_end);
  }
  const std::string& base() const { return base_; }

  // One JSON-protocol call. Each thread keeps its own keep-alive connection per endpoint (httplib clients
  // are not thread-safe); a connect per call cost more than the call itself on loopback.
  json call(const std::string& action, const json& request, int timeout_s = 30) const {
    thread_local std::map<std::string, std::unique_ptr<httplib::Client>> clients;
    auto& slot = clients[base_];
    if (!slot) {
      slot = std::make_unique<httplib::Client>(base_);
      slot->set_keep_alive(true);
      slot->set_tcp_nodelay(true);
      slot->set_connection_timeout(5);
    }
    auto& client = *slot;
    client.set_read_timeout(timeout_s);
    httplib::Headers headers = {{"X-Amz-Target", "AmazonSQS." + action}};
    auto res = client.Post("/", headers, request.dump(), "application/x-amz-json-1.0");
    if (!res)
      throw Error(ErrorKind::kUnavailable, "SQS endpoint " + base_ + " did not answer " + action + " (" +
                                               httplib::to_string(res.error()) + "); is it running?");
    json body = res->body.empty() ? json::object() : json::parse(res->body, nullptr, false);
    if (res->status == 200 && !body.is_discarded()) return body;
    std::string type = body.is_object() ? body.value("__type", "") : "";
    std::string message = body.is_object() ? body.value("message", res->body) : res->body;
    std::string code = type.substr(type.find('#') + 1);
    ErrorKind kind = ErrorKind::kUnavailable;
    if (code == "QueueDoesNotExist")
      kind = ErrorKind::kNotFound;
    else if (code == "QueueNameExists")
      kind = ErrorKind::kConflict;
    else if (res->status >= 400 && res->status < 500)
      kind = ErrorKind::kInvalidInput;
    throw Error(kind, action + " failed: " + code + ": " + message);
  }

 private:
  std::string base_;
};

class HttpQueue : public Queue {
 public:
  HttpQueue(std::shared_ptr<Endpoint> ep, std::string name, std::string url)
      : ep_(std::move(ep)), name_(std::move(name)), url_(std::move(url)) {}
  const std::string& name() const override { return name_; }
  std::string url() const override { return url_; }
  std::string send(const std::string& body) override {
    return ep_->call("SendMessage", {{"QueueUrl", url_}, {"MessageBody", body}}).at("MessageId");
  }
  std::vector<std::string> send_batch(const std::vector<std::string>& bodies) override {
    std::vector<std::string> ids;
    for (size_t start = 0; start < bodies.size(); start += 10) {
      json entries = json::array();
      for (size_t i = start; i < std::min(bodies.size(), start + 10); ++i)
        entries.push_back({{"Id", std::to_string(i)}, {"MessageBody", bodies[i]}});
      auto r = ep_->call("SendMessageBatch", {{"QueueUrl", url_}, {"Entries", entries}});
      if (!r.value("Failed", json::array()).empty())
        throw Error(ErrorKind::kInvalidInput, "SendMessageBatch refused entries: " + r["Failed"].dump());
      for (auto& e : r.at("Successful")) ids.push_back(e.at("MessageId"));
    }
    return ids;
  }
  std::vector<Message> receive(const ReceiveOptions& o) override {
    json req = {{"QueueUrl", url_},
                {"MaxNumberOfMessages", o.max_messages},
                {"WaitTimeSeconds", std::chrono::duration_cast<std::chrono::seconds>(o.wait).count()},
                {"AttributeNames", {"All"}}};
    if (o.visibility) req["VisibilityTimeout"] = o.visibility->count();
    auto r = ep_->call("ReceiveMessage", req, 30);
    std::vector<Message> out;
    for (auto& m : r.value("Messages", json::array())) {
      Message msg;
      msg.id = m.at("MessageId");
      msg.receipt_handle = m.at("ReceiptHandle");
      msg.body = m.at("Body");
      auto attrs = m.value("Attributes", json::object());
      msg.receive_count = std::stoi(attrs.value("ApproximateReceiveCount", "1"));
      msg.sent_timestamp_ms = std::stoll(attrs.value("SentTimestamp", "0"));
      out.push_back(std::move(msg));
    }
    return out;
  }
  void remove(const std::string& handle) override {
    ep_->call("DeleteMessage", {{"QueueUrl", url_}, {"ReceiptHandle", handle}});
  }
  void change_visibility(const std::string& handle, std::chrono::seconds timeout) override {
    ep_->call("ChangeMessageVisibility",
              {{"QueueUrl", url_}, {"ReceiptHandle", handle}, {"VisibilityTimeout", timeout.count()}});
  }
  void purge() override { ep_->call("PurgeQueue", {{"QueueUrl", url_}}); }
  QueueStats stats() override {
    auto r = ep_->call("GetQueueAttributes", {{"QueueUrl", url_}, {"AttributeNames", {"All"}}});
    auto a = r.value("Attributes", json::object());
    return {std::stoll(a.value("ApproximateNumberOfMessages", "0")),
            std::stoll(a.value("ApproximateNumberOfMessagesNotVisible", "0"))};
  }

 private:
  std::shared_ptr<Endpoint> ep_;
  std::string name_, url_;
};

class HttpService : public QueueService {
 public:
  explicit HttpService(const std::string& endpoint) : ep_(std::make_shared<Endpoint>(endpoint)) {}
  std::shared_ptr<Queue> create(const std::string& name, const QueueConfig& c) override {
    json attrs = {{"VisibilityTimeout", std::to_string(c.visibility_timeout.count())}};
    if (!c.dead_letter_queue.empty() && c.max_receive_count > 0)
      attrs["RedrivePolicy"] =
          json{{"deadLetterTargetArn", "arn:aws:sqs:us-east-1:000000000000:" + c.dead_letter_queue},
               {"maxReceiveCount", std::to_string(c.max_receive_count)}}
              .dump();
    auto r = ep_->call("CreateQueue", {{"QueueName", name}, {"Attributes", attrs}});
    return std::make_shared<HttpQueue>(ep_, name, r.at("QueueUrl"));
  }
  std::shared_ptr<Queue> get(const std::string& name) override {
    auto r = ep_->call("GetQueueUrl", {{"QueueName", name}});
    return std::make_shared<HttpQueue>(ep_, name, r.at("QueueUrl"));
  }
  std::vector<std::string> list(const std::string& prefix) override {
    auto r = ep_->call("ListQueues", {{"QueueNamePrefix", prefix}});
    std::vector<std::string> out;
    for (auto& u : r.value("QueueUrls", json::array())) out.push_back(split_queue_url(u).second);
    return out;
  }
  void remove_queue(const std::string& name) override {
    auto q = get(name);
    ep_->call("DeleteQueue", {{"QueueUrl", q->url()}});
  }

 private:
  std::shared_ptr<Endpoint> ep_;
};

}  // namespace

std::unique_ptr<QueueService> make_http_sqs_client(const std::string& endpoint) {
  return std::make_unique<HttpService>(endpoint);
}

std::pair<std::string, std::string> split_queue_url(const std::string& url) {
  auto scheme = url.find("://");
  auto path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto last = url.find_last_of('/');
  if (scheme == std::string::npos || path == std::string::npos || last + 1 >= url.size())
    throw Error(ErrorKind::kInvalidInput,
                "'" + url + "' is not a queue URL; expected http(s)://HOST/ACCOUNT/NAME");
  return {url.substr(0, path), url.substr(last + 1)};
}

}  // namespace facepipe::queue
