// cache=ram|disk (data/image_cache.h): batches bit-identical to the uncached loader for a seed, the
// second epoch served from the cache, disk files outside the dataset and read back by a new run,
// and the memory estimate's refusal.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/image_cache.h"
#include "fracture/data/loader.h"

namespace fs = std::filesystem;

namespace {

fs::path scratch(const char* name) {
  fs::path d = fs::temp_directory_path() / ("fracture_cache_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// n grey images of different sizes and depths (8-bit PNG, 16-bit PNG, JPEG) with one box each.
std::vector<fracture::DetItem> make_images(const fs::path& dir, int n) {
  std::vector<fracture::DetItem> items;
  cv::RNG rng(7);
  for (int i = 0; i < n; ++i) {
    const int w = 90 + 13 * i, h = 70 + 9 * (i % 4);
    cv::Mat m(h, w, i % 3 == 1 ? CV_16UC1 : CV_8UC1);
    rng.fill(m, cv::RNG::UNIFORM, 0, i % 3 == 1 ? 65535 : 255);
    const fs::path p = dir / ("img" + std::to_string(i) + (i % 3 == 2 ? ".jpg" : ".png"));
    cv::imwrite(p.string(), m);
    fracture::DetItem it;
    it.image = p;
    it.boxes.push_back({i % 2, 0.5f, 0.5f, 0.3f, 0.2f});
    items.push_back(it);
  }
  return items;
}

// Every batch of two epochs, concatenated.
std::vector<torch::Tensor> run_epochs(std::shared_ptr<fracture::Source> src, int epochs) {
  fracture::LoaderOptions lo;
  lo.batch = 3;
  lo.workers = 2;
  lo.seed = 11;
  fracture::Loader loader(src, lo);
  std::vector<torch::Tensor> out;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    while (auto b = loader.next()) {
      out.push_back(b->images.clone());
      if (b->targets.defined()) out.push_back(b->targets.clone());
    }
  }
  return out;
}

void expect_identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

}  // namespace

TEST(ImageCache, RamGivesTheUncachedBatchesAndHitsAfterTheFirstEpoch) {
  const fs::path data = scratch("ram");
  const auto items = make_images(data, 8);
  fracture::DetectionOptions plain;
  plain.imgsz = 64;
  plain.augment = true;  // mosaic, affine, flips, intensity: the cached pixels go through all of it
  plain.epochs = 2;
  plain.close_mosaic = 0;
  fracture::DetectionOptions cached = plain;
  cached.cache = fracture::ImageCache::make("ram", "");
  const auto a = run_epochs(std::make_shared<fracture::DetectionSource>(items, plain), 2);
  const auto b = run_epochs(std::make_shared<fracture::DetectionSource>(items, cached), 2);
  expect_identical(a, b);
  EXPECT_EQ(cached.cache->misses(), items.size());  // each file decoded once
  EXPECT_GT(cached.cache->hits(), items.size());    // mosaic partners and epoch 2 from memory
  EXPECT_GT(cached.cache->bytes(), 0u);

  // classification (letterbox and stretch) the same
  std::vector<fracture::ClsItem> cls;
  for (const auto& it : items) cls.push_back({it.image, it.boxes[0].cls, "", "train"});
  for (const char* resize : {"letterbox", "stretch"}) {
    fracture::ClassificationOptions co;
    co.imgsz = 48;
    co.augment = true;
    co.resize = resize;
    co.clahe = 2.0f;
    fracture::ClassificationOptions cc = co;
    cc.cache = fracture::ImageCache::make("ram", "");
    expect_identical(run_epochs(std::make_shared<fracture::ClassificationSource>(cls, co), 2),
                     run_epochs(std::make_shared<fracture::ClassificationSource>(cls, cc), 2));
    EXPECT_EQ(cc.cache->misses(), cls.size()) << resize;
  }
  fs::remove_all(data.parent_path());
}

TEST(ImageCache, DiskFilesLiveOutsideTheDatasetAndServeANewRun) {
  const fs::path root = scratch("disk"), data = root / "dataset", dir = root / "project" / ".cache" / "images";
  fs::create_directories(data);
  const auto items = make_images(data, 5);
  std::vector<fracture::ClsItem> cls;
  for (const auto& it : items) cls.push_back({it.image, 0, "", ""});
  fracture::ClassificationOptions co;
  co.imgsz = 40;
  co.augment = true;
  const auto plain = run_epochs(std::make_shared<fracture::ClassificationSource>(cls, co), 1);
  size_t files_before = 0;
  for (const auto& e : fs::recursive_directory_iterator(data)) files_before += e.is_regular_file();

  fracture::ClassificationOptions c1 = co;
  c1.cache = fracture::ImageCache::make("disk", dir);
  expect_identical(plain, run_epochs(std::make_shared<fracture::ClassificationSource>(cls, c1), 1));
  EXPECT_EQ(c1.cache->misses(), cls.size());
  size_t cache_files = 0;
  for (const auto& e : fs::directory_iterator(dir)) cache_files += e.path().extension() == ".img";
  EXPECT_EQ(cache_files, cls.size());
  size_t files_after = 0;
  for (const auto& e : fs::recursive_directory_iterator(data)) files_after += e.is_regular_file();
  EXPECT_EQ(files_after, files_before);  // nothing written into the dataset

  // a new run (a new cache object) reads them back without decoding
  fracture::ClassificationOptions c2 = co;
  c2.cache = fracture::ImageCache::make("disk", dir);
  expect_identical(plain, run_epochs(std::make_shared<fracture::ClassificationSource>(cls, c2), 1));
  EXPECT_EQ(c2.cache->misses(), 0u);
  EXPECT_EQ(c2.cache->hits(), cls.size());

  // a changed image is decoded afresh (the key holds its size and modification time)
  cv::imwrite(cls[0].image.string(), cv::Mat(30, 30, CV_8UC1, cv::Scalar(9)));
  fracture::ClassificationOptions c3 = co;
  c3.cache = fracture::ImageCache::make("disk", dir);
  run_epochs(std::make_shared<fracture::ClassificationSource>(cls, c3), 1);
  EXPECT_EQ(c3.cache->misses(), 1u);
  fs::remove_all(root);
}

TEST(ImageCache, KeyValuesAndTheMemoryRefusal) {
  EXPECT_EQ(fracture::ImageCache::make("false", ""), nullptr);
  EXPECT_EQ(fracture::ImageCache::make("ram", "")->mode(), fracture::ImageCache::Mode::ram);
  EXPECT_EQ(fracture::ImageCache::make("true", "")->mode(), fracture::ImageCache::Mode::ram);  // Ultralytics' cache=True
  EXPECT_THROW(fracture::ImageCache::make("gpu", ""), fracture::Error);
  EXPECT_EQ(fracture::ram_bytes_needed(1000, 128), 1000u * 128 * 128 * 2);
  const uint64_t avail = fracture::memory_available();
  if (avail == 0) GTEST_SKIP() << "no /proc/meminfo";
  EXPECT_NO_THROW(fracture::check_ram_fits(avail / 4, 10, 64));
  try {
    fracture::check_ram_fits(avail, 4083, 2048);
    ADD_FAILURE() << "a cache of all available memory was allowed";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("use cache=disk"), std::string::npos) << e.what();
  }
}
