#include "gallery/bulk_import.h"

#include <charconv>
#include <fstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/error.h"

namespace facepipe::gallery {
namespace {

// Splits off the name field of `line` (quoted or not); returns the position after its comma, npos for a
// line with no comma. Error(kInvalidInput) for an unterminated quote.
size_t read_name(const std::string& line, std::string& name, const std::string& where) {
  name.clear();
  if (!line.empty() && line[0] == '"') {
    size_t i = 1;
    for (;;) {
      const size_t q = line.find('"', i);
      if (q == std::string::npos)
        throw Error(ErrorKind::kInvalidInput, where + ": unterminated quote in the name");
      name.append(line, i, q - i);
      if (q + 1 < line.size() && line[q + 1] == '"') {
        name.push_back('"');
        i = q + 2;
        continue;
      }
      if (q + 1 == line.size()) return std::string::npos;
      if (line[q + 1] != ',')
        throw Error(ErrorKind::kInvalidInput, where + ": text after the name's closing quote");
      return q + 2;
    }
  }
  const size_t comma = line.find(',');
  name.assign(line, 0, comma);
  return comma == std::string::npos ? comma : comma + 1;
}

}  // namespace

bool is_embeddings_csv(const std::filesystem::path& path) {
  const auto ext = path.extension().string();
  return ext == ".csv" || ext == ".txt" || ext == ".CSV" || ext == ".TXT";
}

BulkAddResult import_embeddings_csv_into(const std::filesystem::path& db, const std::filesystem::path& csv,
                                         const std::string& embedder_id,
                                         const std::function<void(const BulkImportProgress&)>& progress) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) throw Error(ErrorKind::kNotFound, "cannot read '" + csv.string() + "'");
  BulkImportProgress state;
  std::error_code ec;
  state.total_bytes = static_cast<size_t>(std::filesystem::file_size(csv, ec));
  // Check the first line before creating anything: a file that is not an embeddings file leaves no gallery.
  {
    std::string first;
    std::getline(in, first);
    if (first.find(',') == std::string::npos)
      throw Error(ErrorKind::kInvalidInput,
                  "'" + csv.string() + "' is not an embeddings file: expected lines `name,v1,...,vD`");
    in.clear();
    in.seekg(0);
  }
  const bool existed = std::filesystem::exists(db);
  auto gallery = Gallery::open(db, embedder_id);
  bool reading = false;  // an error while reading already names the line
  std::string line;
  size_t line_no = 0;
  std::vector<float> values;
  auto next = [&](std::string& name, face::Embedding& embedding) -> bool {
    reading = true;
    while (std::getline(in, line)) {
      ++line_no;
      state.bytes += line.size() + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      const std::string where = "'" + csv.string() + "' line " + std::to_string(line_no);
      size_t pos = read_name(line, name, where);
      if (pos == std::string::npos)
        throw Error(ErrorKind::kInvalidInput,
                    where + ": no values after the name (expected `name,v1,...,vD`)");
      embedding.clear();
      const char* p = line.data() + pos;
      const char* end = line.data() + line.size();
      for (;;) {
        while (p < end && *p == ' ') ++p;
        float v = 0;
        const auto [after, err] = std::from_chars(p, end, v);
        if (err != std::errc()) {
          if (line_no == 1 && embedding.empty()) break;  // a header line
          throw Error(ErrorKind::kInvalidInput,
                      where + ": value " + std::to_string(embedding.size() + 1) + " is not a number");
        }
        embedding.push_back(v);
        p = after;
        while (p < end && *p == ' ') ++p;
        if (p == end) break;
        if (*p != ',')
          throw Error(ErrorKind::kInvalidInput,
                      where + ": unexpected text after value " + std::to_string(embedding.size()));
        ++p;
      }
      if (embedding.empty()) continue;  // the header
      reading = false;
      return true;
    }
    if (in.bad()) throw Error(ErrorKind::kUnavailable, "reading '" + csv.string() + "' failed");
    reading = false;
    return false;
  };
  std::function<void(size_t)> report;
  if (progress)
    report = [&](size_t rows) {
      state.rows = rows;
      progress(state);
    };
  auto forget = [&] {  // a failed import into a new gallery leaves none behind
    if (existed) return;
    gallery.reset();
    remove_gallery_files(db);
  };
  try {
    auto result = gallery->add_bulk(next, report);
    // A gallery large enough for the IVF (gallery/index.h) is saved with it, so the first `serve` or
    // `recognize` after the import needs no training.
    const auto before = gallery->index_status();
    gallery->wait_index();
    const auto after = gallery->index_status();
    if (after.ivf && after.trained_rows != before.trained_rows)
      spdlog::info("gallery '{}': IVF index trained ({} lists) and saved", db.string(), after.nlist);
    return result;
  } catch (const Error& e) {
    forget();
    if (reading) throw;
    // Name the line: add_bulk counts rows, the file counts lines (headers, blank lines).
    throw Error(e.kind(),
                std::string(e.what()) + " in '" + csv.string() + "' line " + std::to_string(line_no));
  } catch (...) {
    forget();
    throw;
  }
}

}  // namespace facepipe::gallery
