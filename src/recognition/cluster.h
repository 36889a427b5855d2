// Grouping faces nobody is enrolled as ("who is this?"): agglomerative clustering of their embeddings.
//
// Average linkage on the embedder's Euclidean distance: start with one group per face, repeatedly merge
// the two groups whose mean pairwise distance is smallest, stop when that is above `threshold`. With the
// calibrated open-set threshold (recognition/thresholds.h), two groups merge only when their faces are,
// on average, as close as a person's faces are to their enrolment: one group per person on the bundled
// frames (tests/recognition/cluster_test.cpp). Average linkage rather than single linkage, because one
// blurred face close to two people must not chain them into one group. O(n^2) memory and O(n^3) time:
// callers bound n (a few hundred recent faces).
#pragma once

#include <cstddef>
#include <vector>

#include "face/types.h"

namespace facepipe::recognition {

// Groups of indices into `embeddings`, each group in ascending index order, groups ordered by their
// first index. Embeddings of differing sizes are never grouped together.
std::vector<std::vector<std::size_t>> cluster_faces(const std::vector<face::Embedding>& embeddings,
                                                    float threshold);

// The distance at which unknown faces are grouped when the embedder has no calibrated threshold
// (`threshold` <= 0): 1.0, between same-person (< 0.9) and different-person (> 1.1) distances of
// L2-normalised FaceNet embeddings as facenet-pytorch's documentation reports them.
float cluster_threshold(float open_set_threshold);

}  // namespace facepipe::recognition
