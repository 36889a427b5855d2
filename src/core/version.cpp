// The version string; also the one source of modules that are still headers only.
#include "core/version.h"

namespace facepipe {
const char* version() { return FACEPIPE_VERSION; }
}  // namespace facepipe
