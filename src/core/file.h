// Reading a whole file, with the error every command gives for one it cannot open.
#pragma once

#include <filesystem>
#include <string>

namespace facepipe {

// The file's bytes. Error(kNotFound) "cannot read <what> '<path>'" (or "cannot read '<path>'" when `what`
// is empty) when it cannot be opened; Error(kInvalidInput) naming the fix when `path` is a folder.
std::string read_file(const std::filesystem::path& path, const std::string& what = "");

}  // namespace facepipe
