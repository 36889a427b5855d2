#include "queue/sqs_queue.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "queue/sqs_rules.h"

namespace facepipe::queue {
namespace {

using nlohmann::json;

int64_t number(const json& attributes, const char* name, int64_t fallback) {
  const auto it = attributes.find(name);
  if (it == attributes.end()) return fallback;
  try {
    return it->is_string() ? std::stoll(it->get<std::string>()) : it->get<int64_t>();
  } catch (const std::exception&) {
    return fallback;
  }
}

class SqsQueue : public Queue {
 public:
  SqsQueue(std::shared_ptr<aws::JsonClient> client, std::string name, std::string url)
      : client_(std::move(client)), name_(std::move(name)), url_(std::move(url)) {}
  const std::string& name() const override { return name_; }
  std::string url() const override { return url_; }

  std::vector<std::string> send_messages(const std::vector<OutgoingMessage>& messages) override {
    for (const auto& m : messages) check_message(m);  // as the store does, whatever the endpoint checks
    if (messages.size() == 1) {
      json request = {{"QueueUrl", url_}, {"MessageBody", messages[0].body}};
      if (messages[0].delay.count() != 0) request["DelaySeconds"] = messages[0].delay.count();
      return {client_->call("SendMessage", request).value("MessageId", "")};
    }
    std::vector<std::string> ids;
    for (size_t start = 0; start < messages.size(); start += kMaxBatchEntries) {
      const size_t end = std::min(messages.size(), start + kMaxBatchEntries);
      json entries = json::array();
      for (size_t i = start; i < end; ++i) {
        json entry = {{"Id", std::to_string(i)}, {"MessageBody", messages[i].body}};
        if (messages[i].delay.count() != 0) entry["DelaySeconds"] = messages[i].delay.count();
        entries.push_back(std::move(entry));
      }
      const json r = client_->call("SendMessageBatch", {{"QueueUrl", url_}, {"Entries", entries}});
      const json failed = r.value("Failed", json::array());
      if (!failed.empty()) {
        const bool sender = std::any_of(failed.begin(), failed.end(),
                                        [](const json& f) { return f.value("SenderFault", true); });
        throw Error(sender ? ErrorKind::kInvalidInput : ErrorKind::kUnavailable,
                    "SQS SendMessageBatch to " + name_ + " refused entries: " + failed.dump());
      }
      std::map<std::string, std::string> by_id;
      for (const auto& s : r.value("Successful", json::array()))
        by_id[s.value("Id", "")] = s.value("MessageId", "");
      for (size_t i = start; i < end; ++i) ids.push_back(by_id[std::to_string(i)]);
    }
    return ids;
  }

  std::vector<Message> receive(const ReceiveOptions& options) override {
    check_receive(options);
    const long wait = std::chrono::duration_cast<std::chrono::seconds>(options.wait).count();
    json request = {{"QueueUrl", url_},
                    {"MaxNumberOfMessages", options.max_messages},
                    {"WaitTimeSeconds", wait},
                    {"AttributeNames", {"All"}},
                    {"MessageSystemAttributeNames", {"All"}}};
    if (options.visibility) request["VisibilityTimeout"] = options.visibility->count();
    const json r = client_->call("ReceiveMessage", request, wait);
    std::vector<Message> out;
    for (const auto& m : r.value("Messages", json::array())) {
      Message msg;
      msg.id = m.value("MessageId", "");
      msg.receipt_handle = m.value("ReceiptHandle", "");
      msg.body = m.value("Body", "");
      const json attrs = m.value("Attributes", json::object());
      msg.receive_count = static_cast<int>(number(attrs, "ApproximateReceiveCount", 1));
      msg.sent_timestamp_ms = number(attrs, "SentTimestamp", 0);
      out.push_back(std::move(msg));
    }
    return out;
  }

  void remove(const std::string& receipt_handle) override {
    client_->call("DeleteMessage", {{"QueueUrl", url_}, {"ReceiptHandle", receipt_handle}});
  }
  void change_visibility(const std::string& receipt_handle, std::chrono::seconds timeout) override {
    client_->call(
        "ChangeMessageVisibility",
        {{"QueueUrl", url_}, {"ReceiptHandle", receipt_handle}, {"VisibilityTimeout", timeout.count()}});
  }
  void purge() override { client_->call("PurgeQueue", {{"QueueUrl", url_}}); }
  QueueStats stats() override {
    const json r = client_->call("GetQueueAttributes",
                                 {{"QueueUrl", url_},
                                  {"AttributeNames",
                                   {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                    "ApproximateNumberOfMessagesDelayed"}}});
    const json a = r.value("Attributes", json::object());
    QueueStats s;
    s.visible = number(a, "ApproximateNumberOfMessages", 0);
    s.in_flight = number(a, "ApproximateNumberOfMessagesNotVisible", 0);
    s.delayed = number(a, "ApproximateNumberOfMessagesDelayed", 0);
    return s;
  }

  QueueConfig config() override {
    const json r = client_->call("GetQueueAttributes", {{"QueueUrl", url_}, {"AttributeNames", {"All"}}});
    const json a = r.value("Attributes", json::object());
    QueueConfig c;
    c.visibility_timeout = std::chrono::seconds(number(a, "VisibilityTimeout", 30));
    c.retention = std::chrono::seconds(number(a, "MessageRetentionPeriod", c.retention.count()));
    if (const std::string policy = a.value("RedrivePolicy", ""); !policy.empty()) {
      const json p = json::parse(policy, nullptr, false);
      if (p.is_object()) {
        const std::string arn = p.value("deadLetterTargetArn", "");
        c.dead_letter_queue = arn.substr(arn.rfind(':') + 1);
        c.max_receive_count = static_cast<int>(number(p, "maxReceiveCount", 0));
      }
    }
    return c;
  }

  void tag(const QueueTags& added) override {
    check_tags({}, added);  // the 50-tag total is the endpoint's to count
    client_->call("TagQueue", {{"QueueUrl", url_}, {"Tags", added}});
  }
  QueueTags tags() override {
    const json r = client_->call("ListQueueTags", {{"QueueUrl", url_}});
    QueueTags out;
    const json tags = r.value("Tags", json::object());  // items() of a temporary would dangle
    for (const auto& [key, value] : tags.items())
      if (value.is_string()) out[key] = value.get<std::string>();
    return out;
  }

 private:
  std::shared_ptr<aws::JsonClient> client_;
  std::string name_, url_;
};

class SqsService : public QueueService {
 public:
  explicit SqsService(std::shared_ptr<aws::JsonClient> client) : client_(std::move(client)) {}

  std::shared_ptr<Queue> create(const std::string& name, const QueueConfig& config) override {
    const json r = client_->call("CreateQueue", {{"QueueName", name}, {"Attributes", attributes(config)}});
    return std::make_shared<SqsQueue>(client_, name, r.value("QueueUrl", ""));
  }

  std::shared_ptr<Queue> get(const std::string& name) override {
    const json r = client_->call("GetQueueUrl", {{"QueueName", name}});
    return std::make_shared<SqsQueue>(client_, name, r.value("QueueUrl", ""));
  }

  std::vector<std::string> list(const std::string& prefix) override {
    json request = json::object();
    if (!prefix.empty()) request["QueueNamePrefix"] = prefix;
    std::vector<std::string> names;
    for (const auto& url : client_->call("ListQueues", request).value("QueueUrls", json::array()))
      names.push_back(parse_queue_url(url.get<std::string>()).name);
    return names;
  }

  void remove_queue(const std::string& name) override {
    client_->call("DeleteQueue", {{"QueueUrl", get(name)->url()}});
  }

  void set_config(const std::string& name, const QueueConfig& config) override {
    json attrs = attributes(config);
    if (!attrs.contains("RedrivePolicy")) attrs["RedrivePolicy"] = "";  // SQS's way to remove one
    client_->call("SetQueueAttributes", {{"QueueUrl", get(name)->url()}, {"Attributes", attrs}});
  }

 private:
  // CreateQueue/SetQueueAttributes attributes. The dead-letter queue's ARN is looked up (AWS SQS, moto and
  // serve each name accounts and regions their own way); the queue is created with defaults if missing.
  json attributes(const QueueConfig& config) {
    json attrs = {{"VisibilityTimeout", std::to_string(config.visibility_timeout.count())},
                  {"MessageRetentionPeriod", std::to_string(config.retention.count())}};
    if (!config.dead_letter_queue.empty() && config.max_receive_count > 0) {
      std::shared_ptr<Queue> dlq;
      try {
        dlq = get(config.dead_letter_queue);
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kNotFound) throw;
        dlq = create(config.dead_letter_queue, QueueConfig{});
      }
      const json r =
          client_->call("GetQueueAttributes", {{"QueueUrl", dlq->url()}, {"AttributeNames", {"QueueArn"}}});
      const std::string arn = r.value("Attributes", json::object()).value("QueueArn", "");
      if (arn.empty())
        throw Error(ErrorKind::kUnavailable, "SQS endpoint " + client_->endpoint() +
                                                 " gave no QueueArn for " + config.dead_letter_queue);
      attrs["RedrivePolicy"] =
          json{{"deadLetterTargetArn", arn}, {"maxReceiveCount", std::to_string(config.max_receive_count)}}
              .dump();
    }
    return attrs;
  }

  std::shared_ptr<aws::JsonClient> client_;
};

// The client for an SQS endpoint or queue URL: its scheme://host[:port], and the region an
// sqs.<region>.amazonaws.com host names.
std::shared_ptr<aws::JsonClient> client_for(const std::string& endpoint, aws::ClientConfig config) {
  config.endpoint = endpoint;
  if (config.region.empty()) {
    const auto host = endpoint.substr(endpoint.find("://") + 3);
    if (host.rfind("sqs.", 0) == 0 && host.find(".amazonaws.com") != std::string::npos)
      config.region = host.substr(4, host.find('.', 4) - 4);
  }
  auto client = std::make_shared<aws::JsonClient>("sqs", "AmazonSQS", std::move(config));
  if (!client->signs() && endpoint.rfind("https://", 0) == 0)
    throw Error(ErrorKind::kInvalidInput,
                "queue endpoint '" + endpoint +
                    "' needs AWS credentials: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                    "(and AWS_SESSION_TOKEN for temporary ones) and AWS_REGION");
  return client;
}

}  // namespace

std::unique_ptr<QueueService> make_sqs_queue_service(const std::string& endpoint_url,
                                                     aws::ClientConfig config) {
  std::string endpoint = endpoint_url;
  const auto scheme = endpoint.find("://");
  if (scheme == std::string::npos ||
      (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0))
    throw Error(ErrorKind::kInvalidInput, "'" + endpoint_url +
                                              "' is not an SQS endpoint URL: use http(s)://HOST[:PORT], e.g. "
                                              "https://sqs.us-east-1.amazonaws.com");
  if (const auto slash = endpoint.find('/', scheme + 3); slash != std::string::npos) endpoint.resize(slash);
  return std::make_unique<SqsService>(client_for(endpoint, std::move(config)));
}

std::shared_ptr<Queue> open_sqs_queue_url(const std::string& queue_url, aws::ClientConfig config) {
  const QueueUrl parsed = parse_queue_url(queue_url);
  return std::make_shared<SqsQueue>(client_for(parsed.endpoint, std::move(config)), parsed.name, queue_url);
}

}  // namespace facepipe::queue
