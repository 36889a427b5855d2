#include "core/file.h"

#include <fstream>
#include <iterator>

#include "core/error.h"

namespace facepipe {

std::string read_file(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kNotFound,
                "cannot read " + (what.empty() ? "" : what + " ") + "'" + path.string() + "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace facepipe
