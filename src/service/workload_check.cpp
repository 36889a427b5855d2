// workload_failure() (service/workload.h): the pass/fail rule of `facepipe workload`, so a script can trust
// its exit code.
#include "service/workload.h"

namespace facepipe::service {

std::string workload_failure(const WorkloadReport& report) {
  std::string why;
  if (report.wrong > 0)
    why = std::to_string(report.wrong) + " of " + std::to_string(report.completed) + " answers wrong";
  if (report.failed > 0)
    why += (why.empty() ? "" : ", ") + std::to_string(report.failed) + " of " +
           std::to_string(report.requests) + " requests failed or unanswered";
  if (!why.empty()) why += " (see the report above)";
  return why;
}

}  // namespace facepipe::service
