// The modules of src/ form one-way layers. Each module's dependencies are declared once, in the
// facepipe_module(NAME DEPS fp_...) lines of CMakeLists.txt; this test reads them and fails when
//   - the declared graph has a cycle (a module above depending on one below and back), or
//   - a file of src/M includes "X/..." for a module X that M does not depend on (directly or through
//     the modules it depends on), i.e. a header of a module beside or above it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "testutil/testutil.h"

namespace {

namespace fs = std::filesystem;
using Graph = std::map<std::string, std::set<std::string>>;

fs::path source_dir() { return fs::path(FACEPIPE_SOURCE_DIR); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// module -> the fp_* modules its DEPS name.
Graph declared_dependencies() {
  const std::string cmake = read_text(source_dir() / "CMakeLists.txt");
  const std::regex call(R"(\nfacepipe_module\((\w+)([^)]*)\))");
  Graph graph;
  for (std::sregex_iterator it(cmake.begin(), cmake.end(), call), end; it != end; ++it) {
    auto& deps = graph[(*it)[1]];
    std::istringstream words((*it)[2].str());
    for (std::string word; words >> word;)
      if (word.rfind("fp_", 0) == 0) deps.insert(word.substr(3));
  }
  return graph;
}

// Every module `name` may use: itself and whatever its dependencies may use.
std::set<std::string> reachable(const Graph& graph, const std::string& name) {
  std::set<std::string> seen;
  std::function<void(const std::string&)> visit = [&](const std::string& m) {
    if (!seen.insert(m).second) return;
    if (auto it = graph.find(m); it != graph.end())
      for (const auto& d : it->second) visit(d);
  };
  visit(name);
  return seen;
}

TEST(Layers, CMakeDeclaresEverySourceModule) {
  const Graph graph = declared_dependencies();
  ASSERT_GT(graph.size(), 10u) << "could not read the facepipe_module lines of CMakeLists.txt";
  for (const auto& dir : fs::directory_iterator(source_dir() / "src"))
    if (dir.is_directory())
      EXPECT_TRUE(graph.count(dir.path().filename().string()))
          << "src/" << dir.path().filename().string()
          << " is not declared with facepipe_module(NAME DEPS ...) in CMakeLists.txt";
}

TEST(Layers, DeclaredDependenciesHaveNoCycle) {
  const Graph graph = declared_dependencies();
  for (const auto& [name, deps] : graph)
    for (const auto& d : deps) {
      EXPECT_TRUE(graph.count(d)) << name << " depends on fp_" << d << ", which is no facepipe_module";
      EXPECT_FALSE(reachable(graph, d).count(name))
          << "cycle: " << name << " depends on " << d << ", which depends back on " << name;
    }
}

// "src/M/file: #include "X/..." ..." for every include under `src_root` of a module of `graph` that M may
// not use; `checked` counts the includes of our modules that were looked at.
std::vector<std::string> include_violations(const Graph& graph, const fs::path& src_root, int& checked) {
  const std::regex include(R"(#include\s+"([a-z_0-9]+)/[^"]+")");
  std::vector<std::string> violations;
  for (const auto& entry : fs::recursive_directory_iterator(src_root)) {
    if (!entry.is_regular_file()) continue;
    const auto ext = entry.path().extension();
    if (ext != ".h" && ext != ".cpp" && ext != ".in") continue;
    const std::string module = fs::relative(entry.path(), src_root).begin()->string();
    const auto allowed = reachable(graph, module);
    const std::string text = read_text(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), include), end; it != end; ++it) {
      const std::string target = (*it)[1];
      if (!graph.count(target)) continue;  // not one of our modules (e.g. a library header)
      ++checked;
      if (!allowed.count(target))
        violations.push_back(fs::relative(entry.path(), src_root.parent_path()).string() + ": " +
                             (*it)[0].str() + ", but " + module + " does not depend on " + target +
                             " (declare it in CMakeLists.txt if it belongs below " + module +
                             ", else move the code)");
    }
  }
  return violations;
}

TEST(Layers, EveryIncludeIsADeclaredDependency) {
  const Graph graph = declared_dependencies();
  int checked = 0;
  for (const auto& v : include_violations(graph, source_dir() / "src", checked)) ADD_FAILURE() << v;
  EXPECT_GT(checked, 100) << "too few includes found: is FACEPIPE_SOURCE_DIR right?";
}

// The include check itself fails on an include outside DEPS: a copy of two modules' declarations and a
// scratch tree where face/ includes service/ (above it) and service/ includes face/ (below it).
TEST(Layers, AnIncludeOutsideTheDeclaredDepsIsReported) {
  const Graph graph = declared_dependencies();
  const fs::path root = fs::temp_directory_path() / ("fp_layers_" + std::to_string(::getpid())) / "src";
  fs::remove_all(root.parent_path());
  fs::create_directories(root / "face");
  fs::create_directories(root / "service");
  std::ofstream(root / "face" / "upward.h") << "#pragma once\n#include \"service/detection.h\"\n";
  std::ofstream(root / "service" / "fine.cpp") << "#include \"face/detector.h\"\n#include <vector>\n";
  int checked = 0;
  const auto violations = include_violations(graph, root, checked);
  fs::remove_all(root.parent_path());
  EXPECT_EQ(checked, 2);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_NE(violations[0].find("src/face/upward.h"), std::string::npos) << violations[0];
  EXPECT_NE(violations[0].find("face does not depend on service"), std::string::npos) << violations[0];
}

// The check itself: a module including one above it is caught.
TEST(Layers, AnUpwardIncludeIsCaught) {
  const Graph graph = declared_dependencies();
  EXPECT_TRUE(reachable(graph, "service").count("face"));
  EXPECT_FALSE(reachable(graph, "face").count("service"));
  EXPECT_FALSE(reachable(graph, "models").count("engine")) << "models must not reach the engine above it";
  EXPECT_FALSE(reachable(graph, "gallery").count("engine")) << "gallery depends on the face contracts only";
  // The APIs sit beside the transport's callers, beneath it: transport-free.
  for (const char* api : {"api", "auth", "service"}) {
    EXPECT_FALSE(reachable(graph, api).count("server")) << api << " must not reach the HTTP transport";
    EXPECT_FALSE(reachable(graph, api).count("app")) << api << " must not reach the wiring above it";
  }
  EXPECT_FALSE(reachable(graph, "server").count("app")) << "server must not reach the wiring above it";
  EXPECT_FALSE(reachable(graph, "app").count("cli")) << "app must not reach the CLI";
  EXPECT_FALSE(reachable(graph, "events").count("service")) << "sinks sit beneath the handlers";
}

}  // namespace
