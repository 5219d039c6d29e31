// The house rules of docs/architecture.md that a reader of the tree can check mechanically:
// folders include each other in one direction only (no cycle in the folder graph drawn from the
// #include "fracture/<folder>/..." lines), no source file grows past 600 lines, and no source
// comment or string points at the project's issue tracker.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fracture/core/fs.h"

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(FRACTURE_SOURCE_DIR) / "src/fracture";

std::vector<fs::path> sources() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(kRoot))
    if (e.path().extension() == ".h" || e.path().extension() == ".cpp") out.push_back(e.path());
  return out;
}

std::string folder_of(const fs::path& file) { return fs::relative(file, kRoot).begin()->string(); }

}  // namespace

TEST(Layout, FolderIncludesHaveNoCycle) {
  std::map<std::string, std::set<std::string>> uses;  // folder -> folders it includes
  const std::regex inc(R"re(#include "fracture/([a-z_]+)/)re");
  for (const auto& f : sources()) {
    const std::string text = fracture::read_file(f), from = folder_of(f);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), inc); it != std::sregex_iterator(); ++it)
      if ((*it)[1] != from) uses[from].insert((*it)[1]);
  }
  ASSERT_FALSE(uses.empty());
  // Depth-first search; a folder met again while on the current path closes a cycle.
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<std::string> path;
  std::function<void(const std::string&)> visit = [&](const std::string& d) {
    state[d] = 1;
    path.push_back(d);
    for (const auto& n : uses[d]) {
      if (state[n] == 1) {
        std::string cycle;
        for (auto p = std::find(path.begin(), path.end(), n); p != path.end(); ++p) cycle += *p + " -> ";
        ADD_FAILURE() << "folders include each other: " << cycle << n;
      } else if (state[n] == 0) {
        visit(n);
      }
    }
    path.pop_back();
    state[d] = 2;
  };
  for (const auto& [d, _] : uses)
    if (state[d] == 0) visit(d);
  // The direction docs/architecture.md draws.
  EXPECT_EQ(uses["eval"].count("calibrate"), 0u);
  EXPECT_EQ(uses["report"].count("engine"), 0u);
  EXPECT_EQ(uses["data"].count("report"), 0u);
  EXPECT_EQ(uses["core"].size(), 0u);
}

TEST(Layout, NoFileOver600Lines) {
  for (const auto& f : sources()) {
    const std::string text = fracture::read_file(f);
    const long lines = std::count(text.begin(), text.end(), '\n');
    EXPECT_LE(lines, 600) << fs::relative(f, kRoot).string() << " has " << lines
                          << " lines: split it by responsibility (docs/architecture.md)";
  }
}

TEST(Layout, NoTrackerReferencesInSources) {
  const std::regex tracker(R"((issue|Issue|ISSUE)\s*#\s*[0-9]+)");
  for (const auto& f : sources()) {
    const std::string text = fracture::read_file(f);
    std::smatch m;
    EXPECT_FALSE(std::regex_search(text, m, tracker))
        << fs::relative(f, kRoot).string() << ": '" << m.str() << "': say what the code does, not where it was asked for";
  }
}
