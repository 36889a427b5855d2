// facenet-pytorch's gallery file, `data.pt` = torch.save([embedding_list, name_list]) where each
// embedding is a (1, 512) tensor. The course's face-recognition function loads one of these.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "face/types.h"
#include "gallery/gallery.h"

namespace facepipe::gallery {

// The (name, embedding) pairs of a data.pt file, in its order. Error(kInvalidInput) when the file is
// not a two-list object of equal lengths with 1-row tensors and string names.
std::vector<std::pair<std::string, face::Embedding>> read_data_pt(const std::filesystem::path& path);

// Adds every pair to `gallery`; returns how many.
int import_data_pt(Gallery& gallery, const std::filesystem::path& path);

struct ImportResult {
  int imported = 0;
  std::vector<std::pair<std::string, std::string>> skipped;  // (name, why): already in the gallery
};

// Reads `path` first, then opens (creating it only now) the gallery at `db` bound to `embedder_id`, and adds
// every pair that is not already there (find_same_photo): a file that is not a data.pt leaves no gallery
// behind, and importing twice adds nothing the second time.
ImportResult import_data_pt_into(const std::filesystem::path& db, const std::filesystem::path& path,
                                 const std::string& embedder_id);

// The embedder id facenet-pytorch's course pipeline makes data.pt with: MTCNN(image_size=240) crops fed
// to the VGGFace2 InceptionResnetV1.
inline constexpr const char* kDataPtEmbedderId = "irv1-vggface2/box240";

}  // namespace facepipe::gallery
