#include "fracture/data/screen.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "fracture/core/error.h"

namespace fracture {

namespace fs = std::filesystem;

ScreenOptions screen_options(const Config& cfg) {
  ScreenOptions o;
  o.mode = cfg.str("validate");
  FRACTURE_CHECK(o.mode == "fast" || o.mode == "decode" || o.mode == "off",
                 "key 'validate' must be fast, decode or off, got '", o.mode, "'");
  o.strict = cfg.boolean("strict");
  o.threads = int(std::max<long long>(1, cfg.integer("workers")));
  o.read = read_options(cfg);
  return o;
}

UnusableFile unusable_from_problem(const Problem& p) {
  return {p.file, "", p.line > 0 ? "line " + std::to_string(p.line) + ": " + p.message : p.message};
}

UnusableFile unusable_from_message(const std::string& message, const std::string& split) {
  const size_t cut = message.find(": ");
  if (cut == std::string::npos) return {message, split, "could not be read during the run"};
  return {message.substr(0, cut), split, message.substr(cut + 2)};
}

std::vector<bool> screen_files(const std::vector<fs::path>& files, const ScreenOptions& opt,
                               std::vector<UnusableFile>* bad) {
  std::vector<bool> usable(files.size(), true);
  if (opt.mode == "off" || files.empty()) return usable;
  std::vector<std::string> reason(files.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < files.size(); i = next++)
      reason[i] = image_file_problem(files[i], opt.read, opt.mode == "decode");
  };
  const int n_threads = std::max(1, std::min<int>(opt.threads, int(files.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n_threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < files.size(); ++i) {
    if (reason[i].empty()) continue;
    FRACTURE_CHECK(!opt.strict, files[i].string(), ": ", reason[i],
                   " (strict=true stops here; strict=false leaves unusable images out and lists them)");
    usable[i] = false;
    if (bad) bad->push_back({files[i], "", reason[i]});
  }
  return usable;
}

void warn_unusable(Logger& log, const std::string& where, const std::vector<UnusableFile>& bad, size_t listed) {
  if (bad.empty()) return;
  log.warn("{}: {} of {} images cannot be read and are left out (strict=false; listed in the run's skipped.csv); "
           "first: {}: {}",
           where, bad.size(), listed, bad[0].file.string(), bad[0].reason);
}

namespace {

// Screens `items` (anything with an `image` path) and erases the unusable ones; `split_of` names
// each item's split for the list.
template <class Item, class SplitOf>
void screen_items(std::vector<Item>& items, const ScreenOptions& opt, SplitOf split_of,
                  std::vector<UnusableFile>& out) {
  std::vector<fs::path> files;
  files.reserve(items.size());
  for (const auto& it : items) files.push_back(it.image);
  std::vector<UnusableFile> bad;
  const std::vector<bool> usable = screen_files(files, opt, &bad);
  size_t b = 0;
  std::vector<Item> kept;
  kept.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    if (usable[i]) {
      kept.push_back(std::move(items[i]));
    } else {
      bad[b].split = split_of(items[i]);
      out.push_back(bad[b++]);
    }
  }
  items = std::move(kept);
}

}  // namespace

std::vector<UnusableFile> screen_dataset(ClsDataset& ds, const ScreenOptions& opt) {
  std::vector<UnusableFile> out;
  screen_items(ds.items, opt, [](const ClsItem& it) { return it.split; }, out);
  return out;
}

std::vector<UnusableFile> screen_dataset(DetDataset& ds, const ScreenOptions& opt) {
  std::vector<UnusableFile> out;
  for (auto& [split, items] : ds.splits) {
    const std::string name = split;
    screen_items(items, opt, [&name](const DetItem&) { return name; }, out);
  }
  return out;
}

}  // namespace fracture
