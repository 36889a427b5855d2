// The web console in a real browser (ctest label `console`): `facepipe serve` on loopback with a fresh
// data dir, an empty gallery and a generated admin key; Debian's chromium driven by playwright-core
// (tools/console-test, installed by scripts/console-test.sh) logs in, enrols a bundled person from photos,
// sees a function-URL recognition arrive live, names a stranger's unknown group and sees them recognised,
// adds an event's face with "this is ...", shows a hostile name as text, deletes a person (gone from the
// page and the API), and fails on any console error. Screenshots: build/console-screenshots/.
#include <gtest/gtest.h>

#include "testutil/process_util.h"

namespace facepipe::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(ConsoleBrowser, EnrolRecogniseLiveNameUnknownsEscapeAndErase) {
  const fs::path driver = source_dir() / "tools/console-test";
  ASSERT_TRUE(fs::exists(driver / "node_modules/playwright-core/package.json"))
      << "run scripts/console-test.sh first (CI and setup.sh do)";
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "install Debian's chromium (scripts/deps.sh)";
  const fs::path dir = temp_dir("console_browser");
  auto created = shell(facepipe_cmd("keys create --data-dir " + dir.string() +
                                    " --name console-test --role admin --json 2>/dev/null"));
  ASSERT_EQ(created.status, 0) << created.out;
  const std::string key = json::parse(created.out).at("key").get<std::string>();
  Child serve({"--models-dir", shared_models().string(), "serve", "--data-dir", dir.string(), "--gallery",
               (dir / "gallery.db").string(), "--port", "0", "--http-threads", "8"},
              dir / "serve.log");
  const std::string url = serve.wait_listening();
  ASSERT_FALSE(url.empty()) << serve.log();
  const fs::path shots = fs::path(FACEPIPE_BINARY).parent_path() / "console-screenshots";
  auto r = run_command("node " + (driver / "console-test.mjs").string() + " " + url + " " + key + " " +
                           datasets().string() + " " + shots.string() + " 2>&1",
                       false);
  const auto brace = r.output.rfind("\n{");
  ASSERT_EQ(r.exit_code, 0) << r.output << "\n--- serve log ---\n" << serve.log();
  const json report = json::parse(r.output.substr(brace == std::string::npos ? 0 : brace + 1));
  EXPECT_TRUE(report.at("ok").get<bool>());
  EXPECT_GE(report.at("checks").size(), 25u);
  for (const char* shot : {"console-people.png", "console-events.png", "console-unknowns.png"})
    EXPECT_TRUE(fs::exists(shots / shot)) << shot;
}

}  // namespace
}  // namespace facepipe::testing
