#include "recognition/cluster.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace facepipe::recognition {

float cluster_threshold(float open_set_threshold) {
  return open_set_threshold > 0 ? open_set_threshold : 1.0f;
}

std::vector<std::vector<size_t>> cluster_faces(const std::vector<face::Embedding>& embeddings,
                                               float threshold) {
  const size_t n = embeddings.size();
  constexpr float kApart = std::numeric_limits<float>::infinity();
  // Mean pairwise distance between groups i and j (Lance-Williams update for average linkage).
  std::vector<float> d(n * n, kApart);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      if (embeddings[i].size() != embeddings[j].size()) continue;
      float sum = 0;
      for (size_t k = 0; k < embeddings[i].size(); ++k) {
        const float diff = embeddings[i][k] - embeddings[j][k];
        sum += diff * diff;
      }
      d[i * n + j] = d[j * n + i] = std::sqrt(sum);
    }
  std::vector<std::vector<size_t>> groups(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) groups[i] = {i};
  while (true) {
    float best = kApart;
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!alive[i]) continue;
      for (size_t j = i + 1; j < n; ++j)
        if (alive[j] && d[i * n + j] < best) {
          best = d[i * n + j];
          a = i;
          b = j;
        }
    }
    if (!(best <= threshold)) break;
    // Merge b into a.
    const float na = static_cast<float>(groups[a].size()), nb = static_cast<float>(groups[b].size());
    for (size_t k = 0; k < n; ++k) {
      if (!alive[k] || k == a || k == b) continue;
      const float dak = d[a * n + k], dbk = d[b * n + k];
      const float merged = (std::isinf(dak) || std::isinf(dbk)) ? kApart : (na * dak + nb * dbk) / (na + nb);
      d[a * n + k] = d[k * n + a] = merged;
    }
    groups[a].insert(groups[a].end(), groups[b].begin(), groups[b].end());
    groups[b].clear();
    alive[b] = false;
  }
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < n; ++i)
    if (alive[i]) {
      std::sort(groups[i].begin(), groups[i].end());
      out.push_back(std::move(groups[i]));
    }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.front() < y.front(); });
  return out;
}

}  // namespace facepipe::recognition
