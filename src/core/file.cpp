#include "core/file.h"

#include <fstream>
#include <iterator>

#include "core/error.h"

namespace facepipe {

std::string read_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(
        ErrorKind::kInvalidInput,
        "'" + path.string() + "' is a folder, not " +
            (what.empty() ? "a file" : "a" + std::string(what == "image" ? "n " : " ") + what + " file") +
            "; give the files inside it (e.g. '" + (path / "*.jpg").string() + "')");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kNotFound,
                "cannot read " + (what.empty() ? "" : what + " ") + "'" + path.string() + "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace facepipe
