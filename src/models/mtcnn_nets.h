// The three MTCNN networks (facenet-pytorch's PNet, RNet, ONet), loaded from facenet-pytorch's
// state dicts (models/mtcnn/{pnet,rnet,onet}.pt) and run on oneDNN.
//
// Inputs are float NCHW, RGB, already standardised ((x - 127.5) * 0.0078125) by the caller.
// Outputs follow facenet-pytorch exactly (softmax applied; the face probability is class 1).
// Each object is thread-safe for concurrent forward calls (primitives are cached per input shape).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "nn/precision.h"

namespace facepipe::models {

struct PNetOutput {
  int height = 0, width = 0;     // output map size
  std::vector<float> prob;       // [height * width], face probability, row-major
  std::vector<float> reg;        // [4 * height * width], channel-major (4, H, W)
};

struct RNetOutput {
  std::vector<float> prob;       // [n]
  std::vector<float> reg;        // [n * 4]
};

struct ONetOutput {
  std::vector<float> prob;       // [n]
  std::vector<float> reg;        // [n * 4]
  std::vector<float> landmarks;  // [n * 10], facenet order: x1..x5 then y1..y5 (relative to the box)
};

// What pnet() may read past the end of its input (its first stage loads whole vectors).
inline constexpr int kPnetReadPastEnd = 64;

class MtcnnNets {
 public:
  // Loads pnet.pt, rnet.pt and onet.pt from `dir` (the models directory's mtcnn/ folder). `precision`:
  // what the convolutions compute in (the caller checks the CPU has it). PNet's first stage (models/
  // pnet_stem.h) and the dense layers stay fp32 either way: the first is hand-written, the second small.
  static std::unique_ptr<MtcnnNets> load(const std::filesystem::path& dir,
                                         nn::Precision precision = nn::Precision::kF32);
  virtual ~MtcnnNets() = default;
  // One image, 3 x height x width (planar), followed by at least kPnetReadPastEnd readable floats. Taken
  // over and released once the first stage has read it (a 1080p frame's first level is 9 MB, and two
  // levels run at once): the peak of a frame's pyramid is what bounds the engine's memory.
  virtual PNetOutput pnet(std::vector<float> planar, int height, int width) = 0;
  // n crops of 3 x 24 x 24, contiguous.
  virtual RNetOutput rnet(const float* nchw, int n) = 0;
  // n crops of 3 x 48 x 48, contiguous.
  virtual ONetOutput onet(const float* nchw, int n) = 0;
};

}  // namespace facepipe::models
