#include "queue/sqs_queue.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "core/error.h"

namespace facepipe::queue {
namespace {

using nlohmann::json;

class SqsQueue : public Queue {
 public:
  SqsQueue(std::shared_ptr<aws::JsonClient> client, std::string name, std::string url)
      : client_(std::move(client)), name_(std::move(name)), url_(std::move(url)) {}
  const std::string& name() const override { return name_; }
  std::string url() const override { return url_; }

  std::string send(const std::string& body) override {
    return client_->call("SendMessage", {{"QueueUrl", url_}, {"MessageBody", body}}).value("MessageId", "");
  }

  std::vector<std::string> send_batch(const std::vector<std::string>& bodies) override {
    std::vector<std::string> ids;
    for (size_t start = 0; start < bodies.size(); start += 10) {  // SQS takes at most 10 per batch
      json entries = json::array();
      for (size_t i = start; i < std::min(bodies.size(), start + 10); ++i)
        entries.push_back({{"Id", std::to_string(i)}, {"MessageBody", bodies[i]}});
      const json r = client_->call("SendMessageBatch", {{"QueueUrl", url_}, {"Entries", entries}});
      if (r.contains("Failed") && !r["Failed"].empty())
        throw Error(ErrorKind::kUnavailable, "SQS SendMessageBatch to " + name_ + ": " + r["Failed"].dump());
      std::map<std::string, std::string> by_id;
      for (const auto& s : r.value("Successful", json::array())) by_id[s["Id"]] = s["MessageId"];
      for (size_t i = start; i < std::min(bodies.size(), start + 10); ++i)
        ids.push_back(by_id[std::to_string(i)]);
    }
    return ids;
  }

  std::vector<Message> receive(const ReceiveOptions& options) override {
    json request = {
        {"QueueUrl", url_},
        {"MaxNumberOfMessages", std::clamp(options.max_messages, 1, 10)},
        {"WaitTimeSeconds",
         std::clamp<long>(std::chrono::duration_cast<std::chrono::seconds>(options.wait).count(), 0, 20)},
        {"AttributeNames", {"All"}},
        {"MessageSystemAttributeNames", {"All"}}};
    if (options.visibility) request["VisibilityTimeout"] = options.visibility->count();
    const json r = client_->call("ReceiveMessage", request, request["WaitTimeSeconds"].get<long>());
    std::vector<Message> out;
    for (const auto& m : r.value("Messages", json::array())) {
      Message msg;
      msg.id = m.value("MessageId", "");
      msg.receipt_handle = m.value("ReceiptHandle", "");
      msg.body = m.value("Body", "");
      const json attrs = m.value("Attributes", json::object());
      msg.receive_count = std::stoi(attrs.value("ApproximateReceiveCount", "1"));
      msg.sent_timestamp_ms = std::stoll(attrs.value("SentTimestamp", "0"));
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
    const json r = client_->call(
        "GetQueueAttributes",
        {{"QueueUrl", url_},
         {"AttributeNames", {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}}});
    const json a = r.value("Attributes", json::object());
    QueueStats s;
    s.visible = std::stoll(a.value("ApproximateNumberOfMessages", "0"));
    s.in_flight = std::stoll(a.value("ApproximateNumberOfMessagesNotVisible", "0"));
    return s;
  }

 private:
  std::shared_ptr<aws::JsonClient> client_;
  std::string name_, url_;
};

class SqsService : public QueueService {
 public:
  explicit SqsService(std::shared_ptr<aws::JsonClient> client) : client_(std::move(client)) {}

  std::shared_ptr<Queue> create(const std::string& name, const QueueConfig& config) override {
    json attributes = {{"VisibilityTimeout", std::to_string(config.visibility_timeout.count())},
                       {"MessageRetentionPeriod", std::to_string(config.retention.count())}};
    if (!config.dead_letter_queue.empty() && config.max_receive_count > 0) {
      auto dlq = create(config.dead_letter_queue, QueueConfig{});
      const json r =
          client_->call("GetQueueAttributes", {{"QueueUrl", dlq->url()}, {"AttributeNames", {"QueueArn"}}});
      attributes["RedrivePolicy"] = json{{"deadLetterTargetArn", r["Attributes"]["QueueArn"]},
                                         {"maxReceiveCount", std::to_string(config.max_receive_count)}}
                                        .dump();
    }
    const json r = client_->call("CreateQueue", {{"QueueName", name}, {"Attributes", attributes}});
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
    for (const auto& url : client_->call("ListQueues", request).value("QueueUrls", json::array())) {
      const std::string u = url;
      names.push_back(u.substr(u.rfind('/') + 1));
    }
    return names;
  }

  void remove_queue(const std::string& name) override {
    client_->call("DeleteQueue", {{"QueueUrl", get(name)->url()}});
  }

 private:
  std::shared_ptr<aws::JsonClient> client_;
};

}  // namespace

namespace {
// Endpoint (scheme://host[:port]) and region of an SQS endpoint or queue URL.
aws::ClientConfig config_for_url(const std::string& endpoint_url, aws::ClientConfig config) {
  std::string endpoint = endpoint_url;
  const auto scheme = endpoint.find("://");
  if (scheme == std::string::npos)
    throw Error(ErrorKind::kInvalidInput,
                "'" + endpoint_url + "' is not an SQS endpoint URL (https://sqs.<region>.amazonaws.com)");
  if (const auto slash = endpoint.find('/', scheme + 3); slash != std::string::npos) endpoint.resize(slash);
  config.endpoint = endpoint;
  if (config.region.empty()) {
    // sqs.<region>.amazonaws.com names its region
    const auto host = endpoint.substr(scheme + 3);
    if (host.rfind("sqs.", 0) == 0 && host.find(".amazonaws.com") != std::string::npos)
      config.region = host.substr(4, host.find('.', 4) - 4);
  }
  return config;
}
}  // namespace

std::unique_ptr<QueueService> make_sqs_queue_service(const std::string& endpoint_url,
                                                     aws::ClientConfig config) {
  return std::make_unique<SqsService>(
      std::make_shared<aws::JsonClient>("sqs", "AmazonSQS", config_for_url(endpoint_url, std::move(config))));
}

std::shared_ptr<Queue> open_sqs_queue_url(const std::string& queue_url, aws::ClientConfig config) {
  const auto slash = queue_url.rfind('/');
  const auto scheme = queue_url.find("://");
  if (scheme == std::string::npos || slash == std::string::npos || slash < scheme + 3 ||
      slash + 1 == queue_url.size())
    throw Error(ErrorKind::kInvalidInput, "'" + queue_url +
                                              "' is not an SQS queue URL "
                                              "(https://sqs.<region>.amazonaws.com/<account>/<queue name>)");
  auto client =
      std::make_shared<aws::JsonClient>("sqs", "AmazonSQS", config_for_url(queue_url, std::move(config)));
  return std::make_shared<SqsQueue>(client, queue_url.substr(slash + 1), queue_url);
}

}  // namespace facepipe::queue
