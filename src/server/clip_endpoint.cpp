#include "server/clip_endpoint.h"

#include <map>
#include <memory>
#include <mutex>

#include "service/clip_recognition.h"

namespace facepipe::server {

void add_clip_endpoint(HttpServer& http, face::Detector& detector, face::Embedder& embedder,
                       const gallery::Gallery& gallery, float threshold, queue::Queue* responses,
                       const video::FramePolicy& policy, service::EnginePool* pool,
                       const recognition::AnswerOptions& answer) {
  // One handler per policy, made on first use; each handler serialises its clips (see ClipHandler).
  struct Handlers {
    std::mutex mu;
    std::map<std::string, std::unique_ptr<service::ClipHandler>> by_policy;
  };
  auto handlers = std::make_shared<Handlers>();
  http.add_post_route("/clips", [=, &detector, &embedder, &gallery](
                                    const std::string& body,
                                    const std::map<std::string, std::string>& params) {
    auto param = [&](const char* key) {
      auto it = params.find(key);
      return it == params.end() ? std::string() : it->second;
    };
    const std::string policy_text = param("policy");
    const video::FramePolicy chosen = policy_text.empty() ? policy : video::FramePolicy::parse(policy_text);
    service::ClipHandler* handler;
    {
      std::lock_guard<std::mutex> lock(handlers->mu);
      auto& slot = handlers->by_policy[chosen.to_string()];
      if (!slot)
        slot =
            std::make_unique<service::ClipHandler>(detector, embedder, gallery, threshold, responses, chosen,
                                                   video::ClipLimits{}, answer);
      handler = slot.get();
    }
    const std::string filename = param("filename");
    const std::string name = filename.empty() ? "clip.mp4" : filename;
    if (!pool) return handler->handle(body, param("request_id"), name);
    auto held = pool->hold_bytes(static_cast<int64_t>(body.size()));
    nlohmann::json result;
    pool->run(video::ClipLimits{}.max_pixels,
              [&] { result = handler->handle(body, param("request_id"), name); });
    return result;
  });
}

}  // namespace facepipe::server
