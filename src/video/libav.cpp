#include "video/libav.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "core/error.h"

namespace facepipe::video {
namespace {

#define FACEPIPE_STR2(x) #x
#define FACEPIPE_STR(x) FACEPIPE_STR2(x)

void* open_library(const char* soname, const char* package) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    throw Error(ErrorKind::kUnavailable, std::string("video support needs ") + soname + " (" + dlerror() +
                                             "): install it with `apt-get install " + package + "`");
  return handle;
}

template <typename Pointer>
void resolve(void* library, const char* name, Pointer& pointer) {
  pointer = reinterpret_cast<Pointer>(dlsym(library, name));
  if (pointer == nullptr)
    throw Error(ErrorKind::kUnavailable, std::string("libav has no ") + name +
                                             ": the installed version differs "
                                             "from the one facepipe was built with");
}

LibAv load() {
  LibAv av;
  // Dependencies first, so each library finds the symbols of the ones below it.
  void* util = open_library("libavutil.so." FACEPIPE_STR(LIBAVUTIL_VERSION_MAJOR),
                            "libavutil" FACEPIPE_STR(LIBAVUTIL_VERSION_MAJOR));
  void* codec = open_library("libavcodec.so." FACEPIPE_STR(LIBAVCODEC_VERSION_MAJOR),
                             "libavcodec" FACEPIPE_STR(LIBAVCODEC_VERSION_MAJOR));
  void* format = open_library("libavformat.so." FACEPIPE_STR(LIBAVFORMAT_VERSION_MAJOR),
                              "libavformat" FACEPIPE_STR(LIBAVFORMAT_VERSION_MAJOR));
  void* scale = open_library("libswscale.so." FACEPIPE_STR(LIBSWSCALE_VERSION_MAJOR),
                             "libswscale" FACEPIPE_STR(LIBSWSCALE_VERSION_MAJOR));
#define FACEPIPE_RESOLVE_UTIL(name) resolve(util, #name, av.name);
#define FACEPIPE_RESOLVE_CODEC(name) resolve(codec, #name, av.name);
#define FACEPIPE_RESOLVE_FORMAT(name) resolve(format, #name, av.name);
#define FACEPIPE_RESOLVE_SCALE(name) resolve(scale, #name, av.name);
  FACEPIPE_LIBAVUTIL_FUNCTIONS(FACEPIPE_RESOLVE_UTIL)
  FACEPIPE_LIBAVCODEC_FUNCTIONS(FACEPIPE_RESOLVE_CODEC)
  FACEPIPE_LIBAVFORMAT_FUNCTIONS(FACEPIPE_RESOLVE_FORMAT)
  FACEPIPE_LIBSWSCALE_FUNCTIONS(FACEPIPE_RESOLVE_SCALE)
  return av;
}

}  // namespace

const LibAv& libav() {
  // Loaded once; a failure is not cached, so installing the packages fixes a running server's next clip.
  static std::mutex mu;
  static LibAv loaded;
  static bool ok = false;
  std::lock_guard<std::mutex> lock(mu);
  if (!ok) {
    loaded = load();
    ok = true;
  }
  return loaded;
}

const LibAvDevice& libavdevice() {
  static std::mutex mu;
  static LibAvDevice loaded;
  static bool ok = false;
  std::lock_guard<std::mutex> lock(mu);
  if (!ok) {
    libav();  // libavformat first: libavdevice links against it
    void* device = open_library("libavdevice.so." FACEPIPE_STR(LIBAVDEVICE_VERSION_MAJOR),
                                "libavdevice" FACEPIPE_STR(LIBAVDEVICE_VERSION_MAJOR));
    resolve(device, "avdevice_register_all", loaded.avdevice_register_all);
    loaded.avdevice_register_all();
    ok = true;
  }
  return loaded;
}

}  // namespace facepipe::video
