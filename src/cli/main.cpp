// facepipe: face recognition as a service for camera frames. See README.md.
#include "cli/commands.h"

int main(int argc, char** argv) { return facepipe::cli::run(argc, argv); }
