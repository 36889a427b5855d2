#include "core/paths.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "testutil/testutil.h"

namespace facepipe {
namespace {

TEST(ModelsDir, ExplicitFlagWins) {
  auto dir = models_dir(testing::shared_models().string());
  EXPECT_TRUE(std::filesystem::exists(dir / "mtcnn" / "pnet.pt"));
}

TEST(ModelsDir, MissingFlagDirectoryNamesItAndTheFix) {
  try {
    models_dir("/nonexistent/models");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/models"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("FACEPIPE_MODELS"), std::string::npos);
  }
}

TEST(ModelsDir, EnvironmentVariable) {
  ::setenv("FACEPIPE_MODELS", testing::shared_models().c_str(), 1);
  EXPECT_EQ(models_dir(), std::filesystem::absolute(testing::shared_models()));
  ::unsetenv("FACEPIPE_MODELS");
}

TEST(ModelFile, MissingFileIsNotFound) {
  EXPECT_THROW(model_file(testing::shared_models(), "nope/none.pt"), Error);
}

}  // namespace
}  // namespace facepipe
