#include "lambda/runtime.h"

#include <httplib.h>

#include <cstdlib>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::lambda {
namespace {

constexpr const char* kBase = "/2018-06-01/runtime";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json error_body(const std::string& type, const std::string& message) {
  return {{"errorType", type}, {"errorMessage", message}};
}

// The error type Lambda reports to the caller: facepipe.<code> for our errors (e.g. facepipe.invalid_input).
std::string error_type(const std::exception& e) {
  if (const auto* fe = dynamic_cast<const Error*>(&e)) return std::string("facepipe.") + fe->code();
  return "Runtime.UnhandledError";
}

}  // namespace

std::chrono::milliseconds Invocation::remaining() const {
  if (deadline_ms == 0) return std::chrono::hours(24);
  return std::chrono::milliseconds(deadline_ms - now_ms());
}

int run_runtime(const RuntimeOptions& options, const std::function<Handler()>& init) {
  std::string api = options.api;
  if (api.empty()) {
    const char* env = std::getenv("AWS_LAMBDA_RUNTIME_API");
    if (env == nullptr || *env == '\0') {
      spdlog::error(
          "AWS_LAMBDA_RUNTIME_API is not set: `facepipe lambda` runs inside a Lambda container (or under the "
          "Runtime Interface Emulator); pass --runtime-api HOST:PORT to point it at one");
      return 1;
    }
    api = env;
  }
  httplib::Client client("http://" + api);
  client.set_keep_alive(true);
  client.set_connection_timeout(5);
  // /next blocks until an event arrives; a frozen container may sit in it for hours.
  client.set_read_timeout(time_t{24} * 3600);
  client.set_write_timeout(30);

  auto post = [&](const std::string& path, const std::string& body, const httplib::Headers& headers = {}) {
    for (int attempt = 1;; ++attempt) {
      auto res = client.Post(path, headers, body, "application/json");
      if (res && res->status < 500) {
        if (res->status >= 300)
          spdlog::error("runtime API refused POST {}: HTTP {} {}", path, res->status, res->body);
        return res->status < 300;
      }
      if (attempt == 3) {
        spdlog::error("runtime API at {} unreachable for POST {}: {}", api, path,
                      res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error()));
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
    }
  };

  Handler handler;
  const auto init_start = std::chrono::steady_clock::now();
  try {
    handler = init();
  } catch (const std::exception& e) {
    spdlog::error("function init failed: {}", e.what());
    post(std::string(kBase) + "/init/error",
         error_body("Runtime.InitError." + error_type(e), e.what()).dump(),
         {{"Lambda-Runtime-Function-Error-Type", "Runtime.InitError"}});
    return 1;
  }
  spdlog::info(
      "function ready in {:.0f} ms",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - init_start).count());

  int served = 0;
  while (!(options.stop && options.stop->load()) &&
         (options.max_invocations == 0 || served < options.max_invocations)) {
    auto res = client.Get(std::string(kBase) + "/invocation/next");
    if (!res || res->status != 200) {
      spdlog::error("runtime API at {}: GET next failed ({}); exiting so Lambda restarts the container", api,
                    res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error()));
      return 1;
    }
    Invocation inv;
    inv.request_id = res->get_header_value("Lambda-Runtime-Aws-Request-Id");
    inv.function_arn = res->get_header_value("Lambda-Runtime-Invoked-Function-Arn");
    inv.trace_id = res->get_header_value("Lambda-Runtime-Trace-Id");
    inv.event = res->body;
    try {
      inv.deadline_ms = std::stoll(res->has_header("Lambda-Runtime-Deadline-Ms")
                                       ? res->get_header_value("Lambda-Runtime-Deadline-Ms")
                                       : std::string("0"));
    } catch (const std::exception&) {
      inv.deadline_ms = 0;
    }
    if (inv.request_id.empty()) {
      spdlog::error("runtime API gave an invocation without Lambda-Runtime-Aws-Request-Id; skipping it");
      continue;
    }
    if (!inv.trace_id.empty()) ::setenv("_X_AMZN_TRACE_ID", inv.trace_id.c_str(), 1);
    ++served;
    const std::string base = std::string(kBase) + "/invocation/" + inv.request_id;
    const auto start = std::chrono::steady_clock::now();
    std::string answer;
    std::string failure_type, failure;
    if (inv.deadline_ms != 0 && inv.remaining().count() <= 0) {
      failure_type = "Runtime.DeadlineExceeded";
      failure = "the invocation's deadline had passed before it reached the function";
    } else {
      try {
        answer = handler(nlohmann::json::parse(inv.event), inv).dump();
      } catch (const nlohmann::json::parse_error& e) {
        failure_type = "facepipe.invalid_input";
        failure = std::string("the event is not JSON: ") + e.what();
      } catch (const std::exception& e) {
        failure_type = error_type(e);
        failure = e.what();
      }
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    bool ok;
    if (failure_type.empty()) {
      spdlog::info("invocation {} answered in {:.1f} ms", inv.request_id, ms);
      ok = post(base + "/response", answer);
    } else {
      spdlog::warn("invocation {} failed after {:.1f} ms: {}: {}", inv.request_id, ms, failure_type, failure);
      ok = post(base + "/error", error_body(failure_type, failure).dump(),
                {{"Lambda-Runtime-Function-Error-Type", failure_type}});
    }
    if (!ok) return 1;
  }
  return 0;
}

}  // namespace facepipe::lambda
