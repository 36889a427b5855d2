#include "weights/torch_file.h"

#include <gtest/gtest.h>

#include <zip.h>

#include <fstream>

#include "core/error.h"
#include "testutil/testutil.h"
#include "weights/tfjs.h"

namespace facepipe::weights {
namespace {

using facepipe::testing::golden;
using facepipe::testing::shared_models;
namespace fs = std::filesystem;

TEST(TorchFile, MtcnnLegacyFilesLoadWithTheirShapes) {
  const auto pnet = load_state_dict(shared_models() / "mtcnn/pnet.pt");
  EXPECT_EQ(pnet.at("conv1.weight").shape, (std::vector<int64_t>{10, 3, 3, 3}));
  EXPECT_EQ(pnet.at("prelu1.weight").shape, (std::vector<int64_t>{10}));
  EXPECT_EQ(pnet.at("conv4_2.weight").shape, (std::vector<int64_t>{4, 32, 1, 1}));
  const auto onet = load_state_dict(shared_models() / "mtcnn/onet.pt");
  EXPECT_EQ(onet.at("dense5.weight").shape, (std::vector<int64_t>{256, 1152}));
  EXPECT_EQ(onet.at("dense6_3.weight").shape, (std::vector<int64_t>{10, 256}));
  const auto rnet = load_state_dict(shared_models() / "mtcnn/rnet.pt");
  EXPECT_EQ(rnet.at("dense4.weight").shape, (std::vector<int64_t>{128, 576}));
  for (const auto& [name, t] : rnet) EXPECT_EQ(t.data.size(), static_cast<size_t>(t.numel())) << name;
}

TEST(TorchFile, InceptionResnetV1LegacyFileLoadsWithoutBatchCounters) {
  const auto sd = load_state_dict(shared_models() / "inception_resnet_v1/random-seed0-legacy.pt", {"logits."});
  EXPECT_EQ(sd.at("last_linear.weight").shape, (std::vector<int64_t>{512, 1792}));
  EXPECT_EQ(sd.at("conv2d_1a.conv.weight").shape, (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(sd.at("last_bn.running_var").shape, (std::vector<int64_t>{512}));
  for (const auto& [name, t] : sd) {
    EXPECT_EQ(name.find("num_batches_tracked"), std::string::npos) << name;
    EXPECT_EQ(name.rfind("logits.", 0), std::string::npos) << name;
  }
  EXPECT_GT(sd.size(), 400u);
}

TEST(TorchFile, ZipLayoutEqualsLegacyLayoutTensorByTensor) {
  const auto legacy = load_state_dict(shared_models() / "mtcnn/pnet.pt");
  const auto zip = load_state_dict(golden() / "pnet-zipformat.pt");
  ASSERT_EQ(legacy.size(), zip.size());
  for (const auto& [name, t] : legacy) {
    ASSERT_TRUE(zip.count(name)) << name;
    EXPECT_EQ(zip.at(name).shape, t.shape) << name;
    EXPECT_EQ(zip.at(name).data, t.data) << name;
  }
}

fs::path temp_file(const std::string& name, const std::string& bytes) {
  const fs::path p = fs::temp_directory_path() / ("facepipe_weights_" + name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TorchFile, TruncatedFilesAreRefusedWithAnErrorNeverACrash) {
  for (const auto& source : {shared_models() / "mtcnn/rnet.pt", golden() / "pnet-zipformat.pt"}) {
    const std::string bytes = slurp(source);
    ASSERT_GT(bytes.size(), 1000u);
    // Cut at many places: inside the header pickles, the main pickle, the key list, the storages.
    for (size_t cut : {size_t{0}, size_t{1}, size_t{2}, size_t{10}, size_t{30}, size_t{100}, size_t{300}, size_t{700},
                       bytes.size() / 4, bytes.size() / 2, bytes.size() - 100, bytes.size() - 1}) {
      const auto p = temp_file("cut.pt", bytes.substr(0, cut));
      EXPECT_THROW(load_state_dict(p), Error) << source << " cut at " << cut;
    }
  }
}

TEST(TorchFile, ForeignFilesAreRefused) {
  const auto jpeg = slurp(facepipe::testing::datasets() / "misc/kate_siegel.jpg");
  std::string random(4096, '\0');
  uint32_t x = 12345;
  for (auto& c : random) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"empty", ""}, {"jpeg", jpeg}, {"random", random}, {"pickle-garbage", std::string("\x80\x02\xff\xff", 4)}}) {
    try {
      load_state_dict(temp_file(name, bytes));
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << name;
      EXPECT_NE(std::string(e.what()).find("facepipe_weights_" + name), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(load_state_dict("/nonexistent/weights.pt"), Error);
}

TEST(TorchFile, GenericObjectsLoadListsOfTensorsAndStrings) {
  const TorchValue v = load_torch_object(facepipe::testing::shared() / "galleries/face_images_1000.data.pt");
  ASSERT_EQ(v.kind, TorchValue::Kind::kList);
  ASSERT_EQ(v.items.size(), 2u);
  ASSERT_EQ(v.items[0].items.size(), 90u);
  EXPECT_EQ(v.items[0].items[0].tensor.shape, (std::vector<int64_t>{1, 512}));
  EXPECT_EQ(v.items[1].items[0].kind, TorchValue::Kind::kString);
}

// A zip-layout torch file whose data.pkl is `pickle` (protocol 2 opcodes), as torch.save writes them.
fs::path zip_torch_file(const std::string& name, const std::string& pickle) {
  const fs::path path = fs::temp_directory_path() / ("facepipe_pickle_" + name + ".pt");
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  EXPECT_NE(z, nullptr);
  zip_file_add(z, "archive/data.pkl", zip_source_buffer(z, pickle.data(), pickle.size(), 0), ZIP_FL_OVERWRITE);
  zip_file_add(z, "archive/version", zip_source_buffer(z, "3\n", 2, 0), ZIP_FL_OVERWRITE);
  EXPECT_EQ(zip_close(z), 0);
  return path;
}

// Pickles a hostile file can hold: refused with a message, never a crash, a hang or unbounded memory.
TEST(TorchFile, CyclicSharedAndDeepPicklesAreRefused) {
  using namespace std::string_literals;  // the opcodes hold NUL bytes
  const std::string proto = "\x80\x02"s;
  // A list appended to itself: EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP (recursed until the stack
  // overflowed before).
  const std::string cycle = proto + "]q\x00h\x00"s + "a.";
  // 40 levels of a tuple holding the level below twice: 2^40 values from 250 bytes (ran out of memory).
  std::string dag = proto + "]q\x00"s;
  for (int level = 0; level < 40; ++level)
    dag += std::string("h") + char(level) + "h" + char(level) + "\x86q" + char(level + 1);
  dag += ".";
  // 5000 lists nested in each other: EMPTY_LIST x 5000, APPEND x 4999.
  const std::string deep = proto + std::string(5000, ']') + std::string(4999, 'a') + ".";
  for (const auto& [name, pickle, says] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"cycle", cycle, "inside itself"},
                                                                      {"dag", dag, "expands to more than"},
                                                                      {"deep", deep, "nests more than"}}) {
    try {
      load_torch_object(zip_torch_file(name, pickle));
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << name;
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << name << ": " << e.what();
    }
  }
  // A shared (not cyclic) reference is fine: the same list twice.
  const TorchValue v = load_torch_object(zip_torch_file("shared", proto + "]q\x00h\x00h\x00\x86."s));
  ASSERT_EQ(v.kind, TorchValue::Kind::kTuple);
  EXPECT_EQ(v.items.size(), 2u);
}

TEST(Tfjs, FaceApiManifestLoadsEveryTensorWithItsShape) {
  const auto manifest = shared_models() / "faceapi/face_recognition_model-weights_manifest.json";
  const auto sd = load_tfjs(manifest);
  EXPECT_EQ(sd.size(), 117u);
  EXPECT_EQ(sd.at("conv32_down/conv/filters").shape, (std::vector<int64_t>{7, 7, 3, 32}));
  EXPECT_EQ(sd.at("fc").shape, (std::vector<int64_t>{256, 128}));
  // Every declared tensor is there with its element count, and their encoded sizes add up to the .bin.
  int64_t bytes = 0;
  const auto manifest_json = facepipe::testing::read_json(manifest);
  for (const auto& w : manifest_json[0]["weights"]) {
    const auto& t = sd.at(w["name"].get<std::string>());
    EXPECT_EQ(t.shape, w["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.data.size(), static_cast<size_t>(t.numel()));
    bytes += t.numel() * (w.contains("quantization") ? 1 : 4);
  }
  EXPECT_EQ(bytes, static_cast<int64_t>(fs::file_size(shared_models() / "faceapi/face_recognition_model.bin")));
  // Dequantised values lie within [min, min + 255 * scale] of their manifest entry: spot-check one.
  const auto& scale = sd.at("conv32_down/scale/weights");
  for (float v : scale.data) {
    EXPECT_GE(v, 5.78f);
    EXPECT_LE(v, 5.79f + 255 * 0.0682f);
  }
}

TEST(Tfjs, TruncatedShardIsRefused) {
  const fs::path dir = fs::temp_directory_path() / "facepipe_tfjs_cut";
  fs::create_directories(dir);
  const auto src = shared_models() / "faceapi";
  fs::copy_file(src / "face_recognition_model-weights_manifest.json", dir / "face_recognition_model-weights_manifest.json",
                fs::copy_options::overwrite_existing);
  const std::string bin = slurp(src / "face_recognition_model.bin");
  std::ofstream(dir / "face_recognition_model.bin", std::ios::binary) << bin.substr(0, bin.size() - 10);
  EXPECT_THROW(load_tfjs(dir / "face_recognition_model-weights_manifest.json"), Error);
  fs::remove(dir / "face_recognition_model.bin");
  EXPECT_THROW(load_tfjs(dir / "face_recognition_model-weights_manifest.json"), Error);
}

}  // namespace
}  // namespace facepipe::weights
