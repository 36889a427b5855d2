#include "queue/service_queues.h"

#include "core/error.h"
#include "queue/sqs_rules.h"

namespace facepipe::queue {

ServiceQueueNames service_queue_names(const std::string& id) {
  ServiceQueueNames n{id + "-req-queue", id + "-resp-queue", id + "-req-dlq"};
  if (id.empty() || !valid_queue_name(n.response))
    throw Error(ErrorKind::kInvalidInput,
                "--id '" + id +
                    "' cannot name queues: use 1 to 69 letters, digits, '-' or '_' "
                    "(the queues are <id>-req-queue, <id>-resp-queue, <id>-req-dlq)");
  return n;
}

ServiceQueues ensure_service_queues(QueueService& queues, const std::string& id,
                                    const ServiceQueueSettings& settings, bool reset) {
  ServiceQueues out{service_queue_names(id), nullptr, nullptr, nullptr};
  const auto& n = out.names;
  const auto ensure = [&](const std::string& name, const QueueConfig& config) {
    try {
      return queues.create(name, config);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kConflict) throw;
      if (!reset)
        throw Error(ErrorKind::kConflict,
                    std::string(e.what()) +
                        ". Start again with --reset-queues to give it the attributes this service uses (its "
                        "messages are kept), or delete it (aws sqs delete-queue) to start empty");
      queues.set_config(name, config);
      return queues.get(name);
    }
  };
  QueueConfig dlq;
  dlq.retention = std::chrono::seconds(14 * 24 * 3600);
  out.dead_letter = ensure(n.dead_letter, dlq);
  QueueConfig req;
  req.visibility_timeout = std::chrono::seconds(settings.visibility_s);
  req.max_receive_count = settings.max_receives;
  req.dead_letter_queue = n.dead_letter;
  out.request = ensure(n.request, req);
  out.response = ensure(n.response, QueueConfig{});
  return out;
}

std::vector<std::string> missing_service_queues(QueueService& queues, const ServiceQueueNames& names) {
  return queues.missing(names.all());
}

}  // namespace facepipe::queue
