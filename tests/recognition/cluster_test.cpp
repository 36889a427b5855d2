#include "recognition/cluster.h"

#include <gtest/gtest.h>

namespace facepipe::recognition {
namespace {

TEST(Cluster, TwoTightGroupsStayApartAndAChainDoesNotJoinThem) {
  // Two people 1.0 apart, faces within 0.1 of their own; one face half-way between them (0.5 from each):
  // single linkage would chain the two through it, average linkage keeps them apart.
  std::vector<face::Embedding> e = {{0, 0}, {0.1f, 0}, {0, 0.1f}, {1, 0}, {1.1f, 0}, {1, 0.1f}, {0.5f, 0.6f}};
  const auto groups = cluster_faces(e, 0.45f);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0], (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(groups[1], (std::vector<size_t>{3, 4, 5}));
  EXPECT_EQ(groups[2], (std::vector<size_t>{6}));
}

TEST(Cluster, EverythingWithinTheThresholdIsOneGroupAndNothingIsNoGroup) {
  EXPECT_TRUE(cluster_faces({}, 0.5f).empty());
  const auto one = cluster_faces({{0, 0}, {0.2f, 0}, {0.1f, 0.1f}}, 0.5f);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].size(), 3u);
  const auto apart = cluster_faces({{0, 0}, {0.2f, 0}}, 0.1f);
  EXPECT_EQ(apart.size(), 2u);
}

TEST(Cluster, EmbeddingsOfDifferentSizesAreNeverGrouped) {
  const auto groups = cluster_faces({{0, 0}, {0, 0, 0}}, 10.0f);
  EXPECT_EQ(groups.size(), 2u);
}

TEST(Cluster, UncalibratedEmbeddersGroupAtOne) {
  EXPECT_FLOAT_EQ(cluster_threshold(0), 1.0f);
  EXPECT_FLOAT_EQ(cluster_threshold(0.5f), 0.5f);
}

}  // namespace
}  // namespace facepipe::recognition
