// Screening image files before a run (data/screen.h, image_file_problem in data/image.h), the
// run's skipped.csv (report/data_files.h), and the training loader leaving out a file that turns
// bad during a run (LoaderOptions::skip_unreadable).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/image.h"
#include "fracture/data/loader.h"
#include "fracture/data/screen.h"
#include "fracture/engine/classify.h"
#include "fracture/engine/detect_eval.h"
#include "fracture/models/classifier.h"
#include "fracture/models/yolov8.h"
#include "fracture/report/data_files.h"

namespace fs = std::filesystem;
using fracture::Error;

namespace {

struct Files {
  fs::path dir, png, jpg, truncated_jpg, empty_png, text_png, png_no_iend, missing, folder_png;
};

std::string encode(const char* ext) {
  cv::Mat img(48, 64, CV_8UC1);
  cv::randu(img, 0, 255);
  std::vector<uchar> buf;
  cv::imencode(ext, img, buf);
  return std::string(buf.begin(), buf.end());
}

Files make_files(const char* name) {
  Files f;
  f.dir = fs::temp_directory_path() / ("fracture_screen_" + std::to_string(::getpid())) / name;
  fs::remove_all(f.dir);
  fs::create_directories(f.dir);
  const std::string png = encode(".png"), jpg = encode(".jpg");
  f.png = f.dir / "a.png";
  fracture::write_file_atomic(f.png, png);
  f.jpg = f.dir / "b.jpg";
  fracture::write_file_atomic(f.jpg, jpg);
  f.truncated_jpg = f.dir / "c.jpg";
  fracture::write_file_atomic(f.truncated_jpg, jpg.substr(0, jpg.size() / 2));
  f.empty_png = f.dir / "d.png";
  fracture::write_file_atomic(f.empty_png, "");
  f.text_png = f.dir / "e.png";
  fracture::write_file_atomic(f.text_png, "hello, not an image\n");
  f.png_no_iend = f.dir / "f.png";
  fracture::write_file_atomic(f.png_no_iend, png.substr(0, png.size() - 12));
  f.missing = f.dir / "g.png";
  f.folder_png = f.dir / "h.png";
  fs::create_directories(f.folder_png);
  return f;
}

// read_image's message for a file, without the "path: " prefix.
std::string read_error(const fs::path& p) {
  try {
    (void)fracture::read_image(p);
  } catch (const Error& e) {
    const std::string w = e.what(), prefix = p.string() + ": ";
    return w.rfind(prefix, 0) == 0 ? w.substr(prefix.size()) : w;
  }
  return "";
}

}  // namespace

TEST(Screen, FastCheckNamesWhatReadImageWouldRefuse) {
  const Files f = make_files("fast");
  EXPECT_EQ(fracture::image_file_problem(f.png), "");
  EXPECT_EQ(fracture::image_file_problem(f.jpg), "");
  // the same words as read_image, for every file it refuses before decoding
  for (const fs::path& p : {f.truncated_jpg, f.empty_png, f.text_png, f.png_no_iend}) {
    const std::string fast = fracture::image_file_problem(p);
    EXPECT_FALSE(fast.empty()) << p;
    EXPECT_EQ(fast, read_error(p)) << p;
  }
  EXPECT_NE(fracture::image_file_problem(f.truncated_jpg).find("no end-of-image marker FF D9"), std::string::npos);
  EXPECT_NE(fracture::image_file_problem(f.text_png).find("unknown image format (first bytes 68 65 6c 6c"),
            std::string::npos);
  EXPECT_NE(fracture::image_file_problem(f.missing).find("not a readable file"), std::string::npos);
  EXPECT_NE(fracture::image_file_problem(f.folder_png).find("not a readable file"), std::string::npos);
  // decode mode: read_image's verdict
  EXPECT_EQ(fracture::image_file_problem(f.png, {}, /*full_decode=*/true), "");
  EXPECT_EQ(fracture::image_file_problem(f.truncated_jpg, {}, true), read_error(f.truncated_jpg));
  fs::remove_all(f.dir);
}

TEST(Screen, FastCheckReadsOnlyHeadAndTailOfLargeFiles) {
  // A JPEG followed by 200 KiB of zero padding (some scanners write it) is complete; one whose last
  // 64 KiB hold no end marker is not, whatever precedes them.
  const Files f = make_files("tail");
  const std::string jpg = fracture::read_file(f.jpg);
  const fs::path padded = f.dir / "padded.jpg", cut = f.dir / "cut.jpg";
  fracture::write_file_atomic(padded, jpg + std::string(200 * 1024, '\0'));
  fracture::write_file_atomic(cut, jpg + std::string(200 * 1024, 'x'));
  EXPECT_EQ(fracture::image_file_problem(padded), "");
  EXPECT_NE(fracture::image_file_problem(cut).find("FF D9"), std::string::npos);
  fs::remove_all(f.dir);
}

TEST(Screen, StrictStopsAtTheFirstLenientListsAll) {
  const Files f = make_files("list");
  const std::vector<fs::path> files = {f.png, f.truncated_jpg, f.jpg, f.empty_png, f.missing};
  fracture::ScreenOptions so;
  so.strict = true;
  try {
    fracture::screen_files(files, so, nullptr);
    ADD_FAILURE() << "strict screen of a truncated file passed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(f.truncated_jpg.string() + ": JPEG data is truncated"), std::string::npos)
        << e.what();
  }
  so.strict = false;
  for (int threads : {1, 3}) {
    so.threads = threads;
    std::vector<fracture::UnusableFile> bad;
    const std::vector<bool> usable = fracture::screen_files(files, so, &bad);
    EXPECT_EQ(usable, (std::vector<bool>{true, false, true, false, false}));
    ASSERT_EQ(bad.size(), 3u);
    EXPECT_EQ(bad[0].file, f.truncated_jpg);  // listing order, whatever thread found it
    EXPECT_EQ(bad[1].file, f.empty_png);
    EXPECT_EQ(bad[2].file, f.missing);
  }
  so.mode = "off";
  EXPECT_EQ(fracture::screen_files(files, so, nullptr), std::vector<bool>(files.size(), true));
  fs::remove_all(f.dir);
}

TEST(Screen, DatasetsKeepOrderAndNameSplits) {
  const Files f = make_files("datasets");
  fracture::ScreenOptions so;
  so.strict = false;
  fracture::ClsDataset cls;
  cls.items = {{f.png, 1, "P1", "train"}, {f.truncated_jpg, 0, "P2", "val"}, {f.jpg, 0, "P3", "test"}};
  const auto bad = fracture::screen_dataset(cls, so);
  ASSERT_EQ(cls.items.size(), 2u);
  EXPECT_EQ(cls.items[0].image, f.png);
  EXPECT_EQ(cls.items[1].image, f.jpg);
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].split, "val");

  fracture::DetDataset det;
  det.splits["train"] = {{f.empty_png, "", {}, ""}, {f.png, "", {}, ""}};
  det.splits["val"] = {{f.jpg, "", {}, ""}, {f.text_png, "", {}, ""}};
  const auto dbad = fracture::screen_dataset(det, so);
  ASSERT_EQ(dbad.size(), 2u);
  EXPECT_EQ(dbad[0].split, "train");
  EXPECT_EQ(dbad[1].split, "val");
  EXPECT_EQ(det.splits["train"].size(), 1u);
  EXPECT_EQ(det.splits["val"][0].image, f.jpg);

  // skipped.csv round trip, a reason with a comma and quotes included
  std::vector<fracture::UnusableFile> rows = bad;
  rows.push_back(fracture::unusable_from_problem({f.dir / "manifest.csv", 7, "image x, \"y\" not found"}));
  fracture::report::write_skipped(f.dir, rows);
  const auto back = fracture::report::read_skipped(f.dir / "skipped.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].file, rows[0].file);
  EXPECT_EQ(back[0].reason, rows[0].reason);
  EXPECT_EQ(back[1].reason, "line 7: image x, \"y\" not found");
  fs::remove_all(f.dir);
}

TEST(Screen, TrainingLoaderLeavesOutAFileThatTurnsBad) {
  const Files f = make_files("loader");
  std::vector<fracture::ClsItem> items;
  for (int i = 0; i < 6; ++i) {
    const fs::path p = f.dir / ("img" + std::to_string(i) + ".png");
    fs::copy_file(f.png, p);
    items.push_back({p, i % 2, "", "train"});
  }
  fracture::ClassificationOptions co;
  co.imgsz = 32;
  co.augment = false;
  fs::remove(items[2].image);  // gone after the listing was screened
  auto src = std::make_shared<fracture::ClassificationSource>(items, co);
  fracture::LoaderOptions lo;
  lo.batch = 4;
  lo.workers = 2;
  lo.shuffle = false;
  {
    fracture::Loader strict(src, lo);
    strict.start_epoch(0);
    EXPECT_THROW(
        {
          while (strict.next()) {
          }
        },
        Error);
  }
  lo.skip_unreadable = true;
  fracture::Loader loader(src, lo);
  loader.start_epoch(0);
  int64_t seen = 0;
  while (auto b = loader.next()) {
    seen += b->images.size(0);
    for (int64_t idx : b->indices) EXPECT_NE(idx, 2);
  }
  EXPECT_EQ(seen, 5);
  const auto skipped = loader.skipped();
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find(items[2].image.string()), std::string::npos) << skipped[0];
  // a batch whose every image fails still stops, naming the first
  for (const auto& it : items) fs::remove(it.image);
  loader.start_epoch(1);
  try {
    while (loader.next()) {
    }
    ADD_FAILURE() << "a batch without a readable image passed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no image of batch"), std::string::npos) << e.what();
  }
  fs::remove_all(f.dir);
}

TEST(Screen, TruncatedLoadIsAnOptIn) {
  const Files f = make_files("truncated");
  fracture::ReadOptions load;
  load.load_truncated = true;
  EXPECT_NE(fracture::image_file_problem(f.truncated_jpg), "");       // refused by default
  EXPECT_EQ(fracture::image_file_problem(f.truncated_jpg, load), "");  // truncated=load lets it through
  const fracture::Image im = fracture::read_image(f.truncated_jpg, load);
  EXPECT_EQ(im.pixels.cols, 64);  // the size the header declares; missing rows come from the decoder
  EXPECT_EQ(im.pixels.rows, 48);
  EXPECT_NE(fracture::image_file_problem(f.empty_png, load), "");     // not an image at all: still refused
  fracture::Config cfg = fracture::Config::defaults();
  cfg.set("truncated", "maybe", "test");
  EXPECT_THROW(fracture::read_options(cfg), Error);
  fs::remove_all(f.dir);
}

TEST(Screen, EvaluationLeavesOutAnImageThatTurnsBadWithStrictFalse) {
  const Files f = make_files("evaluation");
  std::vector<fracture::ClsItem> items;
  std::vector<fracture::DetItem> det;
  for (int i = 0; i < 4; ++i) {
    const fs::path p = f.dir / ("e" + std::to_string(i) + ".png");
    fs::copy_file(f.png, p);
    items.push_back({p, i % 2, "", "val"});
    fracture::DetItem d;
    d.image = p;
    d.boxes.push_back({0, 0.5f, 0.5f, 0.3f, 0.3f});
    det.push_back(d);
  }
  fs::remove(items[1].image);  // gone after the screen
  // classification: NaN and a record with strict=false, an error naming the file otherwise
  auto net = fracture::models::make_classifier("mobilenet_v3_small", {1, -1.0, 3, 0.2});
  fracture::engine::ClassifyOptions opt;
  opt.data.imgsz = 32;
  opt.batch = 2;
  opt.workers = 1;
  opt.channels_last = false;
  std::vector<std::string> lost;
  std::vector<double> z = fracture::engine::predict_logits(*net, items, opt, &lost);
  ASSERT_EQ(z.size(), 4u);
  EXPECT_TRUE(std::isnan(z[1]));
  EXPECT_TRUE(std::isfinite(z[0]) && std::isfinite(z[2]) && std::isfinite(z[3]));
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_NE(lost[0].find(items[1].image.string()), std::string::npos);
  EXPECT_THROW(fracture::engine::predict_logits(*net, items, opt), Error);
  std::vector<int> labels = {0, 1, 0, 1};
  EXPECT_EQ(fracture::engine::keep_finite(z, items, labels), 1u);
  EXPECT_EQ(items.size(), 3u);
  EXPECT_EQ(labels, (std::vector<int>{0, 0, 1}));
  EXPECT_EQ(fracture::unusable_from_message(lost[0], "val").file, fs::path(f.dir / "e1.png"));

  // detection: the unreadable image is left out of the metrics (with and without rect)
  fracture::models::YoloV8Options yo;
  yo.nc = 1;
  fracture::models::YoloV8 yolo(yo);
  auto log = fracture::null_logger();
  for (bool rect : {true, false}) {
    fracture::engine::DetValOptions vo;
    vo.imgsz = 64;
    vo.batch = 2;
    vo.workers = 1;
    vo.rect = rect;
    EXPECT_THROW(fracture::engine::validate_detector(*yolo, det, {"fracture"}, vo, *log), Error) << rect;
    vo.skip_unreadable = true;
    const fracture::DetValOutput out = fracture::engine::validate_detector(*yolo, det, {"fracture"}, vo, *log);
    EXPECT_EQ(out.n_images, 3) << rect;
    ASSERT_EQ(out.skipped.size(), 1u) << rect;
    EXPECT_NE(out.skipped[0].find("e1.png"), std::string::npos) << out.skipped[0];
    EXPECT_EQ(out.results.n_gt, 3) << rect;  // its box is not counted as missed
  }
  fs::remove_all(f.dir);
}
