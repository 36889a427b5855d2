// The version string; also the one source of modules that are still headers only.
namespace facepipe {
const char* version() { return "0.1.0"; }
}  // namespace facepipe
