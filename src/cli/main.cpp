// facepipe: face recognition as a service for camera frames. See README.md.
#include <unistd.h>

#include <cstdlib>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Two settings only take effect when read at process start, so set them and start over once:
  // - GOMP_SPINCOUNT=3000: oneDNN runs on OpenMP, whose idle threads spin-wait before they sleep. libgomp
  //   spins 300k times by default (milliseconds): on 2 cores shared with an HTTP server, queue workers or a
  //   second process the spinning starved them (the same evaluation ran 4.5x slower next to one busy
  //   process). Not spinning at all (OMP_WAIT_POLICY=passive) made every one of the
  //   hundreds of parallel regions a frame runs pay a futex wake-up: InceptionResnetV1 240 in bf16 took
  //   37-41 ms instead of 21-25 ms. 3000 spins (some 0.05 ms) bridge the gaps between primitives and give
  //   the cores up quickly; serve's load (two engines in one process: libgomp throttles its spinning when
  //   its threads outnumber the cores) is unchanged (README "Speed" has the figures).
  // - glibc.malloc.hugetlb=1: the heap asks for transparent huge pages, so the activations' first touch
  //   faults 2 MB at a time: a process's first 1080p detection took 30k page faults instead of 7k, and
  //   0.60 s instead of 0.41-0.51 s end to end (page faults are dear in a VM). Steady state is unchanged.
  // The Lambda image sets both in its environment, so a cold start does not pay for the re-exec.
  bool restart = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    setenv("GOMP_SPINCOUNT", "3000", 1);
    restart = true;
  }
  if (std::getenv("GLIBC_TUNABLES") == nullptr) {
    setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    restart = true;
  }
  if (restart) execv("/proc/self/exe", argv);  // only returns on failure: then carry on as we are
  return facepipe::cli::run(argc, argv);
}
