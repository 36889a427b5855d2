// facepipe: face recognition as a service for camera frames. See README.md.
#include <unistd.h>

#include <cstdlib>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // oneDNN runs on OpenMP, whose threads spin-wait between parallel regions by default. On 2 cores
  // shared with an HTTP server, queue workers or a second process, the spinning starves them: the same
  // evaluation ran 4.5x slower (19.4 s vs 4.3 s) next to one other busy process. libgomp reads its
  // environment when it is loaded, before main, so set the passive policy and start over once.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // only returns on failure: then carry on with the default policy
  }
  return facepipe::cli::run(argc, argv);
}
