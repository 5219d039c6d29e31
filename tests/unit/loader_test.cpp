// Loader and sources: shapes, dtypes, normalisation values, determinism across worker counts,
// per-epoch shuffling, detection targets layout, error naming the file, early destruction.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <numeric>
#include <sstream>
#include <set>
#include <thread>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/image.h"
#include "fracture/data/loader.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using namespace fracture;
using fracture::test::expect_error;

namespace {

// A temp folder of small grey PNGs (varied sizes and contents), removed at the end.
class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("fracture_loader_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
    for (int i = 0; i < 10; ++i) {
      int w = 48 + 8 * (i % 4), h = 40 + 6 * (i % 3);
      cv::Mat m(h, w, CV_8UC1);
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = uint8_t((x * (i + 3) + y * 5 + i * 17) % 256);
      fs::path p = dir / ("img" + std::to_string(i) + ".png");
      cv::imwrite(p.string(), m);
      ClsItem c;
      c.image = p, c.label = i % 2;
      cls.push_back(c);
      DetItem d;
      d.image = p;
      Box b;
      b.cls = i % 3, b.cx = 0.5f, b.cy = 0.5f, b.w = 0.4f, b.h = 0.3f;
      d.boxes.push_back(b);
      if (i % 2) {
        b.cls = 1, b.cx = 0.25f, b.cy = 0.3f, b.w = 0.2f, b.h = 0.2f;
        d.boxes.push_back(b);
      }
      det.push_back(d);
    }
  }
  void TearDown() override { fs::remove_all(dir); }

  std::vector<Batch> epoch_batches(Loader& l, int epoch) {
    std::vector<Batch> out;
    l.start_epoch(epoch);
    while (auto b = l.next()) out.push_back(std::move(*b));
    return out;
  }

  fs::path dir;
  std::vector<ClsItem> cls;
  std::vector<DetItem> det;
};

// In-memory source: constant images of value index / 100; optionally slow or failing.
class FakeSource : public Source {
 public:
  explicit FakeSource(size_t n, int sleep_ms = 0, int fail_at = -1) : n_(n), sleep_ms_(sleep_ms), fail_at_(fail_at) {}
  size_t size() const override { return n_; }
  Sample load(size_t i, std::mt19937_64& rng) const override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    if (int(i) == fail_at_) throw std::runtime_error("synthetic failure");
    ++loads;
    Sample s;
    s.image = cv::Mat(8, 8, CV_32FC1, cv::Scalar(double(i) / 100));
    s.label = int(i);
    s.path = describe(i);
    return s;
  }
  std::string describe(size_t i) const override { return "fake/" + std::to_string(i) + ".png"; }
  mutable std::atomic<int> loads{0};

 private:
  size_t n_;
  int sleep_ms_, fail_at_;
};

}  // namespace

TEST(LoaderOrder, EpochOrderIsAPermutationThatChangesWithEpoch) {
  auto a = epoch_order(50, 3, 0, true), b = epoch_order(50, 3, 1, true), c = epoch_order(50, 3, 0, true);
  EXPECT_EQ(a, c);
  EXPECT_NE(a, b);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[size_t(i)], i);
  auto plain = epoch_order(5, 3, 7, false);
  EXPECT_EQ(plain, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_NE(sample_seed(0, 0, 1), sample_seed(0, 1, 0));
  EXPECT_NE(sample_seed(0, 0, 1), sample_seed(1, 0, 1));
}

TEST_F(LoaderTest, ClassificationShapesDtypesAndImagenetValues) {
  // A uniform 64x64 image of value 128: letterbox needs no padding, so every pixel is 128/255.
  fs::path p = dir / "flat.png";
  cv::imwrite(p.string(), cv::Mat(64, 64, CV_8UC1, cv::Scalar(128)));
  ClassificationOptions o;
  o.imgsz = 32;
  auto src = std::make_shared<ClassificationSource>(std::vector<ClsItem>{{p, 1, ""}, cls[0], cls[1]}, o);
  LoaderOptions lo;
  lo.batch = 3, lo.workers = 1, lo.shuffle = false;
  Loader l(src, lo);
  auto batches = epoch_batches(l, 0);
  ASSERT_EQ(batches.size(), 1u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(b.images.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(b.images.is_contiguous());
  EXPECT_EQ(b.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(b.labels[0].item<int64_t>(), 1);
  EXPECT_EQ(b.labels[1].item<int64_t>(), 0);
  EXPECT_EQ(b.labels[2].item<int64_t>(), 1);
  EXPECT_EQ(b.targets.sizes(), (std::vector<int64_t>{0, 6}));
  EXPECT_EQ(b.paths[0], p.string());
  const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
  for (int c = 0; c < 3; ++c) {
    float want = (128.0f / 255.0f - mean[c]) / sd[c];
    EXPECT_NEAR(b.images[0][c][5][7].item<float>(), want, 1e-5);
    EXPECT_NEAR(b.images[0][c].min().item<float>(), want, 1e-5);
    EXPECT_NEAR(b.images[0][c].max().item<float>(), want, 1e-5);
  }
  // Letterbox record maps back to the 64x64 file.
  EXPECT_EQ(b.letterboxes[0].src_w, 64);
  EXPECT_FLOAT_EQ(b.letterboxes[0].scale, 0.5f);
}

TEST_F(LoaderTest, ClassificationGreyWithoutNormalisationMatchesPixels) {
  ClassificationOptions o;
  o.imgsz = 24, o.channels = 1, o.imagenet_norm = false, o.resize = "stretch";
  fs::path p = dir / "exact.png";
  cv::Mat m(24, 24, CV_8UC1);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x) m.at<uint8_t>(y, x) = uint8_t(x * 10 + y);
  cv::imwrite(p.string(), m);
  auto src = std::make_shared<ClassificationSource>(std::vector<ClsItem>{{p, 0, ""}}, o);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 0;
  Loader l(src, lo);
  auto batches = epoch_batches(l, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].images.sizes(), (std::vector<int64_t>{1, 1, 24, 24}));
  EXPECT_NEAR(batches[0].images[0][0][3][7].item<float>(), (7 * 10 + 3) / 255.0f, 1e-6);
  EXPECT_NEAR(batches[0].images[0][0][20][22].item<float>(), (22 * 10 + 20) / 255.0f, 1e-6);
  // A stretched 48 x 12 file: its record maps the 24 x 24 output's corners back to the file's.
  fs::path wide = dir / "wide_stretch.png";
  cv::imwrite(wide.string(), cv::Mat(12, 48, CV_8UC1, cv::Scalar(90)));
  auto ws = std::make_shared<ClassificationSource>(std::vector<ClsItem>{{wide, 0, ""}}, o);
  Loader lw(ws, lo);
  const LetterboxInfo lb = epoch_batches(lw, 0)[0].letterboxes[0];
  EXPECT_EQ(lb.dst_w, 24);
  EXPECT_EQ(lb.dst_h, 24);
  EXPECT_EQ(lb.new_w, 24);
  EXPECT_EQ(lb.new_h, 24);
  EXPECT_EQ(lb.pad_x + lb.pad_y, 0);
  const cv::Point2f far = letterbox_to_original(lb, {24.0f, 24.0f});
  EXPECT_FLOAT_EQ(far.x, 48.0f);
  EXPECT_FLOAT_EQ(far.y, 12.0f);
  EXPECT_THROW(ClassificationSource({}, [] {
                 ClassificationOptions bad;
                 bad.resize = "crop";
                 return bad;
               }()),
               Error);
}

TEST_F(LoaderTest, SameBatchesForAnyNumberOfWorkers) {
  ClassificationOptions o;
  o.imgsz = 32, o.augment = true;
  o.aug.degrees = 10, o.aug.contrast = 0.2f;
  auto src = std::make_shared<ClassificationSource>(cls, o);
  DetectionOptions d;
  d.imgsz = 32;
  d.aug.degrees = 5;
  auto dsrc = std::make_shared<DetectionSource>(det, d);
  for (std::shared_ptr<Source> s : {std::shared_ptr<Source>(src), std::shared_ptr<Source>(dsrc)}) {
    std::vector<std::vector<Batch>> runs;
    for (int workers : {0, 1, 2}) {
      LoaderOptions lo;
      lo.batch = 4, lo.workers = workers, lo.seed = 11;
      Loader l(s, lo);
      runs.push_back(epoch_batches(l, 2));
    }
    for (size_t r = 1; r < runs.size(); ++r) {
      ASSERT_EQ(runs[r].size(), runs[0].size());
      ASSERT_EQ(runs[0].size(), 3u);  // 10 samples, batch 4, last batch of 2 kept
      for (size_t k = 0; k < runs[0].size(); ++k) {
        EXPECT_EQ(runs[r][k].indices, runs[0][k].indices);
        EXPECT_TRUE(torch::equal(runs[r][k].images, runs[0][k].images)) << "workers run " << r << " batch " << k;
        EXPECT_TRUE(torch::equal(runs[r][k].labels, runs[0][k].labels));
        EXPECT_TRUE(torch::equal(runs[r][k].targets, runs[0][k].targets));
      }
    }
    // Augmentation is really on: a different seed gives different pixels.
    LoaderOptions lo;
    lo.batch = 4, lo.workers = 2, lo.seed = 12, lo.shuffle = false;
    Loader l(s, lo);
    auto other = epoch_batches(l, 2);
    LoaderOptions lo11 = lo;
    lo11.seed = 11;
    Loader l11(s, lo11);
    auto same_order = epoch_batches(l11, 2);
    EXPECT_FALSE(torch::equal(other[0].images, same_order[0].images));
  }
}

TEST_F(LoaderTest, EpochsShuffleDifferentlyAndCoverTheDataset) {
  auto src = std::make_shared<FakeSource>(10);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 2, lo.seed = 5;
  Loader l(src, lo);
  std::vector<int64_t> e0, e1;
  for (auto& b : epoch_batches(l, 0)) e0.insert(e0.end(), b.indices.begin(), b.indices.end());
  for (auto& b : epoch_batches(l, 1)) e1.insert(e1.end(), b.indices.begin(), b.indices.end());
  EXPECT_NE(e0, e1);
  EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), 10u);
  EXPECT_EQ(std::set<int64_t>(e1.begin(), e1.end()).size(), 10u);
  // Labels and pixels follow the index.
  auto b = epoch_batches(l, 3)[0];
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(b.labels[i].item<int64_t>(), b.indices[size_t(i)]);
    EXPECT_NEAR(b.images[i][0][0][0].item<float>(), b.indices[size_t(i)] / 100.0, 1e-6);
  }
}

TEST_F(LoaderTest, DropLastAndChannelsLast) {
  auto src = std::make_shared<FakeSource>(10);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 2, lo.drop_last = true, lo.channels_last = true;
  Loader l(src, lo);
  EXPECT_EQ(l.batches_per_epoch(), 2u);
  auto batches = epoch_batches(l, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1].images.size(0), 4);
  EXPECT_TRUE(batches[0].images.is_contiguous(at::MemoryFormat::ChannelsLast));
  lo.drop_last = false, lo.channels_last = false;
  Loader l2(src, lo);
  auto all = epoch_batches(l2, 0);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].images.size(0), 2);
}

TEST_F(LoaderTest, DetectionTargetsLayout) {
  DetectionOptions d;
  d.imgsz = 64, d.augment = false, d.channels = 3;
  auto src = std::make_shared<DetectionSource>(det, d);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 2, lo.shuffle = false;
  Loader l(src, lo);
  auto batches = epoch_batches(l, 0);
  ASSERT_EQ(batches.size(), 3u);
  const Batch& b = batches[0];
  EXPECT_EQ(b.images.sizes(), (std::vector<int64_t>{4, 3, 64, 64}));
  EXPECT_TRUE(torch::equal(b.images[0][0], b.images[0][2]));  // grey replicated, no mean/std
  EXPECT_GE(b.images.min().item<float>(), 0.0f);
  EXPECT_LE(b.images.max().item<float>(), 1.0f);
  // Items 0..3 have 1, 2, 1, 2 boxes.
  ASSERT_EQ(b.targets.sizes(), (std::vector<int64_t>{6, 6}));
  std::vector<float> bi, cl;
  for (int64_t r = 0; r < 6; ++r) bi.push_back(b.targets[r][0].item<float>()), cl.push_back(b.targets[r][1].item<float>());
  EXPECT_EQ(bi, (std::vector<float>{0, 1, 1, 2, 3, 3}));
  EXPECT_EQ(cl, (std::vector<float>{0, 1, 1, 2, 0, 1}));
  // Item 0 is 48x40: letterboxed to 64 its centred box keeps cx 0.5, and h is scaled by 40/48.
  EXPECT_NEAR(b.targets[0][2].item<float>(), 0.5, 1e-5);
  EXPECT_NEAR(b.targets[0][3].item<float>(), 0.5, 1e-2);
  EXPECT_NEAR(b.targets[0][4].item<float>(), 0.4, 1e-5);
  // Ultralytics 8.1.0 load_image: new_h = min(ceil(40 * 64/48), 64) = 54 (not round's 53).
  EXPECT_NEAR(b.targets[0][5].item<float>(), 0.3 * 54.0 / 64.0, 1e-5);
  EXPECT_EQ(b.labels[0].item<int64_t>(), -1);
}

TEST(RectBatches, FollowsUltralyticsSetRectangle) {
  // w x h; aspect h / w: 0.8, 1.25, 0.5, 1.0, 0.75 -> sorted C E A D B = 2 4 0 3 1.
  std::vector<cv::Size> sizes{{1000, 800}, {800, 1000}, {1000, 500}, {600, 600}, {640, 480}};
  RectBatches rb = rect_batches(sizes, 2, 640);
  EXPECT_EQ(rb.order, (std::vector<size_t>{2, 4, 0, 3, 1}));
  // Batch {C, E}: all landscape, [0.75, 1] -> h ceil(0.75 * 20 + 0.5) * 32 = 512, w ceil(20.5) * 32 = 672.
  // Batch {A, D}: mixed, [1, 1] -> 672 x 672. Batch {B}: portrait, [1, 1 / 1.25] -> w ceil(16.5) * 32 = 544.
  const std::vector<cv::Size> want{{672, 512}, {672, 512}, {672, 672}, {672, 672}, {544, 672}};
  EXPECT_EQ(rb.shapes, want);
  // Equal aspect ratios keep their order (stable); a batch of one image per batch.
  RectBatches one = rect_batches({{64, 32}, {128, 64}, {64, 64}}, 1, 64);
  EXPECT_EQ(one.order, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(one.shapes, (std::vector<cv::Size>{{96, 64}, {96, 64}, {96, 96}}));
  expect_error([&] { rect_batches({{0, 10}}, 1, 64); }, {"rect_batches", "0x10"});
}

// rect_batches, resize_long_side, pad_centred and letterbox_min against tests/oracle/ultralytics_rect_ref.py,
// which follows Ultralytics 8.1.0's set_rectangle, load_image and LetterBox step by step: 200 random
// image sizes (landscape, portrait, square; distinct aspect ratios) at imgsz 640, batch 16.
TEST(RectBatches, MatchesUltralyticsStepByStepReference) {
  std::mt19937_64 rng(7);
  std::vector<cv::Size> sizes;
  std::set<std::pair<int, int>> seen;
  while (sizes.size() < 200) {
    const int w = 64 + int(rng() % 3000), h = 64 + int(rng() % 3000);
    const int g = std::gcd(w, h);
    if (!seen.insert({w / g, h / g}).second) continue;  // one size per aspect ratio
    sizes.emplace_back(w, h);
  }
  sizes.emplace_back(640, 640);  // r == 1: no resize
  nlohmann::json in;
  for (const auto& s : sizes) in["sizes"].push_back({s.width, s.height});
  in["batch"] = 16, in["imgsz"] = 640, in["stride"] = 32, in["pad"] = 0.5;
  const fs::path d = fs::temp_directory_path() / ("fracture_rectref_" + std::to_string(::getpid()));
  fs::create_directories(d);
  write_file_atomic(d / "in.json", in.dump());
  const std::string cmd = std::string(FRACTURE_PYTHON) + " " + FRACTURE_ORACLE_DIR + "/ultralytics_rect_ref.py " +
                          (d / "in.json").string() + " " + (d / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = nlohmann::json::parse(read_file(d / "out.json"));
  fs::remove_all(d);

  const RectBatches rb = rect_batches(sizes, 16, 640);
  ASSERT_EQ(rb.order.size(), ref["order"].size());
  for (size_t k = 0; k < rb.order.size(); ++k) {
    ASSERT_EQ(rb.order[k], ref["order"][k].get<size_t>()) << k;
    const cv::Size shape(ref["shapes"][k][0].get<int>(), ref["shapes"][k][1].get<int>());
    EXPECT_EQ(rb.shapes[k], shape) << k;
    const cv::Size src = sizes[rb.order[k]];
    LetterboxInfo lb;
    pad_centred(resize_long_side(cv::Mat(src, CV_8UC1, cv::Scalar(0)), 640), shape.width, shape.height, 0, &lb);
    EXPECT_EQ(lb.new_w, ref["resized"][k][0].get<int>()) << k << " " << src;
    EXPECT_EQ(lb.new_h, ref["resized"][k][1].get<int>()) << k << " " << src;
    EXPECT_EQ(lb.pad_x, ref["left_top"][k][0].get<int>()) << k;
    EXPECT_EQ(lb.pad_y, ref["left_top"][k][1].get<int>()) << k;
  }
  // detect predict's letterbox (LetterBox auto=True: padded to the stride only), per input size.
  for (size_t i = 0; i < sizes.size(); ++i) {
    LetterboxInfo lb;
    const cv::Mat out = letterbox_min(cv::Mat(sizes[i], CV_32FC1, cv::Scalar(0)), 640, 32, 0, &lb);
    const auto& p = ref["predict"][i];
    EXPECT_EQ(out.cols, p[0].get<int>()) << sizes[i];
    EXPECT_EQ(out.rows, p[1].get<int>()) << sizes[i];
    EXPECT_EQ(lb.new_w, p[2].get<int>()) << sizes[i];
    EXPECT_EQ(lb.new_h, p[3].get<int>()) << sizes[i];
    EXPECT_EQ(lb.pad_x, p[4].get<int>()) << sizes[i];
    EXPECT_EQ(lb.pad_y, p[5].get<int>()) << sizes[i];
  }
}

TEST_F(LoaderTest, RectangularValidationShapes) {
  DetectionOptions d;
  d.imgsz = 64, d.augment = false, d.channels = 1;
  std::vector<cv::Size> sizes;
  for (const auto& it : det) sizes.push_back(image_size(it.image));
  RectBatches rb = rect_batches(sizes, 4, 64);
  std::vector<DetItem> ordered;
  for (size_t k : rb.order) ordered.push_back(det[k]);
  d.shapes = rb.shapes;
  auto src = std::make_shared<DetectionSource>(ordered, d);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 1, lo.shuffle = false;
  Loader l(src, lo);
  size_t k = 0;
  for (const Batch& b : epoch_batches(l, 0)) {
    const cv::Size s = rb.shapes[k];
    EXPECT_EQ(b.images.size(2), s.height);
    EXPECT_EQ(b.images.size(3), s.width);
    for (const LetterboxInfo& lb : b.letterboxes) {
      EXPECT_EQ(lb.dst_w, s.width);
      EXPECT_EQ(lb.dst_h, s.height);
      EXPECT_EQ(std::max(lb.new_w, lb.new_h), 64);  // long side imgsz, then padded
      EXPECT_EQ(lb.pad_x, int(std::lround((s.width - lb.new_w) / 2.0 - 0.1)));
    }
    k += size_t(b.images.size(0));
  }
  EXPECT_EQ(k, det.size());
  d.shapes.pop_back();
  expect_error([&] { DetectionSource(ordered, d); }, {"rectangular shapes"});
}

TEST_F(LoaderTest, MosaicTargetsInsideAndCloseMosaic) {
  DetectionOptions d;
  d.imgsz = 64, d.augment = true, d.epochs = 5, d.close_mosaic = 2;
  d.aug.mosaic = 1.0f, d.aug.degrees = 10;
  auto src = std::make_shared<DetectionSource>(det, d);
  LoaderOptions lo;
  lo.batch = 5, lo.workers = 2, lo.seed = 1;
  Loader l(src, lo);
  size_t rows = 0;
  for (auto& b : epoch_batches(l, 0)) {
    EXPECT_TRUE(src->mosaic_active());
    auto t = b.targets;
    rows += size_t(t.size(0));
    if (t.size(0) == 0) continue;
    EXPECT_GE(t.select(1, 0).min().item<float>(), 0);
    EXPECT_LT(t.select(1, 0).max().item<float>(), float(b.images.size(0)));
    auto x1 = t.select(1, 2) - t.select(1, 4) / 2, x2 = t.select(1, 2) + t.select(1, 4) / 2;
    auto y1 = t.select(1, 3) - t.select(1, 5) / 2, y2 = t.select(1, 3) + t.select(1, 5) / 2;
    EXPECT_GE(x1.min().item<float>(), -1e-5);
    EXPECT_LE(x2.max().item<float>(), 1 + 1e-5);
    EXPECT_GE(y1.min().item<float>(), -1e-5);
    EXPECT_LE(y2.max().item<float>(), 1 + 1e-5);
  }
  EXPECT_GT(rows, 0u);
  l.start_epoch(2);
  EXPECT_TRUE(src->mosaic_active());
  l.start_epoch(3);
  EXPECT_FALSE(src->mosaic_active());
}

TEST_F(LoaderTest, UnreadableFileErrorNamesTheFile) {
  fs::path bad = dir / "broken_scan.png";
  std::ofstream(bad) << "this is not an image";
  std::vector<ClsItem> items = cls;
  items.insert(items.begin() + 5, ClsItem{bad, 1, ""});
  ClassificationOptions o;
  o.imgsz = 32;
  auto src = std::make_shared<ClassificationSource>(items, o);
  for (int workers : {0, 2}) {
    LoaderOptions lo;
    lo.batch = 2, lo.workers = workers;
    Loader l(src, lo);
    l.start_epoch(0);
    try {
      while (l.next()) {
      }
      FAIL() << "expected fracture::Error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("broken_scan.png"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(l.next().has_value());  // the epoch ended at the failing batch
  }
  // A source error that does not name the file gets the file added.
  auto fake = std::make_shared<FakeSource>(6, 0, 4);
  LoaderOptions lo;
  lo.batch = 2, lo.workers = 2;
  Loader l(fake, lo);
  l.start_epoch(0);
  try {
    while (l.next()) {
    }
    FAIL() << "expected fracture::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fake/4.png"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("synthetic failure"), std::string::npos) << e.what();
  }
}

TEST_F(LoaderTest, EarlyDestructionDoesNotHang) {
  auto src = std::make_shared<FakeSource>(200, 5);
  LoaderOptions lo;
  lo.batch = 4, lo.workers = 2, lo.prefetch = 2;
  {
    Loader l(src, lo);
    l.start_epoch(0);
    ASSERT_TRUE(l.next().has_value());
  }  // destroyed with workers blocked on a full queue
  // Bounded prefetch: at most 1 consumed + workers * prefetch batches + one being built per worker.
  EXPECT_LE(src->loads.load(), 4 * (1 + 2 * 2 + 2));
  {
    Loader l(src, lo);
    l.start_epoch(0);  // destroyed without ever calling next()
  }
  {
    Loader l(src, lo);
    l.start_epoch(0);
    l.next();
    l.start_epoch(1);  // restart mid-epoch
    auto b = l.next();
    ASSERT_TRUE(b.has_value());
    std::vector<int64_t> order = epoch_order(200, 0, 1, true);
    EXPECT_EQ(b->indices, std::vector<int64_t>(order.begin(), order.begin() + 4));
  }
  EXPECT_THROW(Loader(src, lo).next(), Error);  // next() before start_epoch()
}

// The per-rank share of an epoch against torch's own DistributedSampler (Debian's python3-torch,
// shuffle=False so the epoch order is the identity and only padding and striding are compared):
// every (n, world size, rank) below, including n smaller than and not divisible by the world size.
TEST(Loader, ShardOrderMatchesTorchDistributedSampler) {
  const std::string cmd = std::string(FRACTURE_PYTHON) +
                          " -c \"import json, torch.utils.data as d; print(json.dumps({f'{n} {w} {r}': "
                          "list(d.DistributedSampler(range(n), num_replicas=w, rank=r, shuffle=False)) "
                          "for n in (1, 2, 7, 10, 32) for w in (1, 2, 3, 4) for r in range(w)}))\"";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(pclose(p), 0) << cmd;
  const auto ref = nlohmann::json::parse(out);
  ASSERT_EQ(ref.size(), 50u);
  for (const auto& [key, want] : ref.items()) {
    int n = 0, w = 0, r = 0;
    std::istringstream(key) >> n >> w >> r;
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    EXPECT_EQ(shard_order(order, r, w), want.get<std::vector<int64_t>>()) << "n " << n << " world " << w << " rank " << r;
  }
}
