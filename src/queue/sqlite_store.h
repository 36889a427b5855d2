// The embedded queue store: every queue of one QueueService in a single SQLite database.
//
// Why SQLite: it gives the durability the contract needs (a sent message survives kill -9 and a restart)
// with one file and no server; WAL mode lets readers (GetQueueAttributes, metrics) run beside the writer.
// By default commits use synchronous=NORMAL: in WAL mode a committed send survives kill -9 and a restart of
// the process (the contract), at a fraction of the cost; `full_sync` (endpoint "sqlite:PATH?sync=full")
// fsyncs every commit so an acknowledged send also survives a power cut or OS crash.
//
// All queues share one connection guarded by a mutex; long polls wait on a condition variable outside
// the lock and are woken by every send (and re-check when the earliest hidden message becomes visible).
#pragma once

#include <memory>
#include <string>

#include "queue/queue.h"

namespace facepipe::queue {

// `path` is a file (created with its directory's parent required to exist) or ":memory:".
// Throws Error(kUnavailable) when the database cannot be opened.
std::unique_ptr<QueueService> make_sqlite_queue_service(const std::string& path, bool full_sync = false);

}  // namespace facepipe::queue
