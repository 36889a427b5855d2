// POST /clips?request_id=ID&filename=NAME on `facepipe serve`: the body is a video clip (MP4/H.264 as a
// Raspberry Pi records it); it is recognised at once (service::ClipHandler) and its result, with each
// recognised person's record, goes to the response queue as well as back in the answer. Unusable clips
// answer 4xx {"error","message"} and put an error result on the queue.
#pragma once

#include "face/detector.h"
#include "face/embedder.h"
#include "gallery/gallery.h"
#include "queue/queue.h"
#include "recognition/answer_policy.h"
#include "server/http_server.h"
#include "service/engine_pool.h"
#include "video/clip.h"

namespace facepipe::server {

// Before http.bind(). The detector, embedder, gallery and queue must outlive the server's run.
// The request may choose the frame policy with &policy=first|every|fps:N (default `policy`).
// With `pool`, each clip runs on an engine thread holding its largest frame's pixels (ClipLimits) and its
// bytes in the pool's budgets (service/engine_pool.h).
void add_clip_endpoint(HttpServer& http, face::Detector& detector, face::Embedder& embedder,
                       const gallery::Gallery& gallery, float threshold, queue::Queue* responses,
                       const video::FramePolicy& policy = video::FramePolicy::parse("fps:2"),
                       service::EnginePool* pool = nullptr, const recognition::AnswerOptions& answer = {});

}  // namespace facepipe::server
