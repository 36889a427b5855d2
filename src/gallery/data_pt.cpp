#include "gallery/data_pt.h"

#include "core/error.h"
#include "weights/torch_file.h"

namespace facepipe::gallery {

std::vector<std::pair<std::string, face::Embedding>> read_data_pt(const std::filesystem::path& path) {
  using weights::TorchValue;
  const TorchValue root = weights::load_torch_object(path);
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kInvalidInput,
                 "'" + path.string() + "' is not a facenet-pytorch data.pt ([embeddings, names]): " + why);
  };
  const bool sequence = root.kind == TorchValue::Kind::kList || root.kind == TorchValue::Kind::kTuple;
  if (!sequence || root.items.size() != 2) throw bad("top level is not a pair");
  const auto& embeddings = root.items[0];
  const auto& names = root.items[1];
  if (embeddings.items.size() != names.items.size()) throw bad("embedding and name lists differ in length");
  std::vector<std::pair<std::string, face::Embedding>> out;
  for (size_t i = 0; i < names.items.size(); ++i) {
    const auto& e = embeddings.items[i];
    const auto& n = names.items[i];
    if (n.kind != TorchValue::Kind::kString) throw bad("name " + std::to_string(i) + " is not a string");
    if (e.kind != TorchValue::Kind::kTensor || e.tensor.data.empty()) throw bad("entry " + std::to_string(i) + " is not a tensor");
    if (e.tensor.shape.size() == 2 && e.tensor.shape[0] != 1) throw bad("embedding " + std::to_string(i) + " has several rows");
    out.emplace_back(n.string_value, e.tensor.data);
  }
  return out;
}

int import_data_pt(Gallery& gallery, const std::filesystem::path& path) {
  const auto pairs = read_data_pt(path);
  for (const auto& [name, embedding] : pairs) gallery.add(name, embedding);
  return static_cast<int>(pairs.size());
}

ImportResult import_data_pt_into(const std::filesystem::path& db, const std::filesystem::path& path,
                                 const std::string& embedder_id) {
  const auto pairs = read_data_pt(path);
  auto gallery = Gallery::open(db, embedder_id);
  ImportResult result;
  for (const auto& [name, embedding] : pairs) {
    if (const auto same = find_same_photo(*gallery, embedding)) {
      result.skipped.emplace_back(name,
                                  "already in the gallery" + (*same == name ? "" : " as '" + *same + "'"));
      continue;
    }
    gallery->add(name, embedding);
    ++result.imported;
  }
  return result;
}

}  // namespace facepipe::gallery
