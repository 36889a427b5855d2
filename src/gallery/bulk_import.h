// Bulk import of embeddings from a text file, for galleries of up to millions of faces:
//
//   name,v1,v2,...,vD        one face a line; D the embedder's dimension (128 or 512), the same on every line
//
// The name may be in double quotes (RFC 4180, "" for a quote; no line break inside); an optional first
// line `name,...` whose second field is not a number is a header. Blank lines are skipped. Values are
// parsed with std::from_chars (exact round trip of what `%.9g` printed).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include "gallery/gallery.h"

namespace facepipe::gallery {

struct BulkImportProgress {
  size_t rows = 0;         // rows read so far
  size_t bytes = 0;        // bytes of the file read so far
  size_t total_bytes = 0;  // the file's size
};

// Streams `csv` into the gallery at `db` (created bound to `embedder_id` when missing) in one transaction
// (Gallery::add_bulk): a malformed line rolls the whole import back, with Error(kInvalidInput) naming the
// file, the line and what is wrong. `progress` is called every 10^4 rows.
BulkAddResult import_embeddings_csv_into(const std::filesystem::path& db, const std::filesystem::path& csv,
                                         const std::string& embedder_id,
                                         const std::function<void(const BulkImportProgress&)>& progress = {});

// True when `path` names an embeddings text file (.csv / .txt) rather than a data.pt.
bool is_embeddings_csv(const std::filesystem::path& path);

}  // namespace facepipe::gallery
