// facepipe: face recognition as a service for camera frames. See README.md.
#include <unistd.h>

#include <cstdlib>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Two settings only take effect when read at process start, so set them and start over once:
  // - OMP_WAIT_POLICY=passive: oneDNN runs on OpenMP, whose threads spin-wait between parallel regions by
  //   default. On 2 cores shared with an HTTP server, queue workers or a second process the spinning starves
  //   them: the same evaluation ran 4.5x slower (19.4 s vs 4.3 s) next to one other busy process.
  // - glibc.malloc.hugetlb=1: the heap asks for transparent huge pages, so the activations' first touch
  //   faults 2 MB at a time: a process's first 1080p detection took 30k page faults instead of 7k, and
  //   0.60 s instead of 0.41-0.51 s end to end (page faults are dear in a VM). Steady state is unchanged.
  // The Lambda image sets both in its environment, so a cold start does not pay for the re-exec.
  bool restart = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    restart = true;
  }
  if (std::getenv("GLIBC_TUNABLES") == nullptr) {
    setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    restart = true;
  }
  if (restart) execv("/proc/self/exe", argv);  // only returns on failure: then carry on as we are
  return facepipe::cli::run(argc, argv);
}
