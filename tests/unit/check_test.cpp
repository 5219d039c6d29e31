// `fracture check` engine: builds small broken datasets in a temp dir from the FracAtlas fixture
// images and checks every finding (leakage, duplicates, near-duplicates, corrupt image, bad class,
// label without image, empty split), strict mode, the clean fixture, and that nothing is written
// into the dataset folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/check.h"
#include "fracture/data/dicom.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> fixture_images(const char* sub) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(FRACTURE_FIXTURES) / "fracatlas-sample/images" / sub))
    out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

fs::path label_of(const fs::path& image) {
  return image.parent_path().parent_path().parent_path() / "labels" / image.parent_path().filename() /
         (image.stem().string() + ".txt");
}

// Listing of a folder: relative path -> (size, mtime), to prove nothing was written.
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> snapshot(const fs::path& root) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> m;
  for (const auto& e : fs::recursive_directory_iterator(root))
    m[fs::relative(e.path(), root).string()] = {e.is_regular_file() ? e.file_size() : 0, e.last_write_time()};
  return m;
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fracture_check_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    log_ = fracture::null_logger();
  }
  void TearDown() override { fs::remove_all(dir_); }

  void copy_item(const fs::path& image, const fs::path& split_dir, const std::string& stem) {
    fs::create_directories(dir_ / "ds/images" / split_dir);
    fs::create_directories(dir_ / "ds/labels" / split_dir);
    fs::copy_file(image, dir_ / "ds/images" / split_dir / (stem + ".jpg"));
    fs::copy_file(label_of(image), dir_ / "ds/labels" / split_dir / (stem + ".txt"));
  }

  // The broken YOLO dataset every finding test uses.
  fs::path make_broken() {
    auto pos = fixture_images("fractured"), neg = fixture_images("negatives");
    copy_item(pos[0], "train", "a");
    copy_item(pos[1], "train", "b");
    copy_item(neg[0], "train", "c");
    copy_item(pos[2], "val", "d");
    copy_item(neg[1], "val", "e");
    // Cross-split exact copy of train/a (leakage: error) and within-split copy of train/b (warning).
    copy_item(pos[0], "val", "a_copy");
    copy_item(pos[1], "train", "b_dup");
    // Train/c mirrored, rotated 2 degrees and re-encoded as PNG into val (near-duplicate: warning).
    cv::Mat m = cv::imread(neg[0].string(), cv::IMREAD_GRAYSCALE), f, rot;
    cv::flip(m, f, 1);
    cv::warpAffine(f, rot, cv::getRotationMatrix2D(cv::Point2f(f.cols / 2.f, f.rows / 2.f), 2, 1.0), f.size());
    cv::imwrite((dir_ / "ds/images/val/c_flipped.png").string(), rot);
    // Truncated JPEG in train (decode error).
    std::string bytes = fracture::read_file(neg[2]);
    fracture::write_file_atomic(dir_ / "ds/images/train/corrupt.jpg", bytes.substr(0, bytes.size() / 2));
    // Label with class 3 while nc = 1 (loader error; the image is skipped).
    fs::copy_file(neg[3], dir_ / "ds/images/train/badclass.jpg");
    fracture::write_file_atomic(dir_ / "ds/labels/train/badclass.txt", "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.1 0.1\n");
    // Label without an image.
    fracture::write_file_atomic(dir_ / "ds/labels/train/ghost.txt", "0 0.5 0.5 0.1 0.1\n");
    // Empty test split.
    fs::create_directories(dir_ / "ds/images/test");
    fracture::write_file_atomic(dir_ / "ds/data.yaml",
                                "path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames: [fractured]\n");
    return dir_ / "ds/data.yaml";
  }

  static const fracture::Finding* find(const fracture::CheckReport& r, const std::string& file_part,
                                       const std::string& msg_part) {
    for (const auto& f : r.findings)
      if (f.where.file.string().find(file_part) != std::string::npos &&
          f.where.message.find(msg_part) != std::string::npos)
        return &f;
    return nullptr;
  }

  static std::string all(const fracture::CheckReport& r) { return fracture::format_report(r); }

  fs::path dir_;
  std::shared_ptr<fracture::Logger> log_;
};

}  // namespace

TEST_F(CheckTest, FixtureIsClean) {
  fs::path data = fs::path(FRACTURE_FIXTURES) / "fracatlas-sample/data.yaml";
  auto before = snapshot(data.parent_path());
  fracture::CheckOptions opt;  // strict
  fracture::CheckReport r = fracture::check_dataset(data, opt, *log_);
  EXPECT_EQ(r.errors(), 0) << all(r);
  EXPECT_EQ(r.warnings(), 0) << all(r);
  ASSERT_EQ(r.splits.size(), 2u);
  EXPECT_EQ(r.splits[0].name, "train");
  EXPECT_EQ(r.splits[0].images, 12);
  EXPECT_EQ(r.splits[0].decoded, 12);
  EXPECT_EQ(r.splits[0].background, 0);
  EXPECT_EQ(r.splits[1].images, 11);
  EXPECT_EQ(r.splits[1].background, 11);
  EXPECT_EQ(r.splits[1].per_class, std::vector<long>({0}));
  EXPECT_GE(r.splits[0].per_class[0], 12);  // at least one box per fractured image
  EXPECT_EQ(r.splits[0].formats.at("jpeg"), 12);
  EXPECT_EQ(r.splits[0].bit_depths.at(8), 12);
  EXPECT_GT(r.splits[0].width.min, 0);
  EXPECT_LE(r.splits[0].width.min, r.splits[0].width.median);
  EXPECT_LE(r.splits[0].width.median, r.splits[0].width.max);
  EXPECT_NE(all(r).find("0 errors, 0 warnings"), std::string::npos) << all(r);
  EXPECT_EQ(snapshot(data.parent_path()), before) << "check wrote into the dataset folder";
}

TEST_F(CheckTest, BrokenDatasetFindings) {
  fs::path data = make_broken();
  auto before = snapshot(dir_ / "ds");
  fracture::CheckOptions opt;
  opt.strict = false;
  fracture::CheckReport r = fracture::check_dataset(data, opt, *log_);
  std::string text = all(r);

  const fracture::Finding* f = find(r, "a_copy.jpg", "two splits (leakage)");
  ASSERT_NE(f, nullptr) << text;
  EXPECT_TRUE(f->error);
  EXPECT_NE(f->where.message.find("train/a.jpg"), std::string::npos) << f->where.message;

  f = find(r, "b", "twice: duplicate image within one split");
  ASSERT_NE(f, nullptr) << text;
  EXPECT_FALSE(f->error);

  f = find(r, "c_flipped.png", "near-duplicate of");
  ASSERT_NE(f, nullptr) << text;
  EXPECT_FALSE(f->error);
  EXPECT_NE(f->where.message.find("train/c.jpg"), std::string::npos) << f->where.message;

  f = find(r, "corrupt.jpg", "cannot decode");
  ASSERT_NE(f, nullptr) << text;
  EXPECT_TRUE(f->error);
  EXPECT_EQ(f->kind, "decode");

  f = find(r, "badclass.txt", "class index 3 is out of range");
  ASSERT_NE(f, nullptr) << text;
  EXPECT_TRUE(f->error);
  EXPECT_EQ(f->where.line, 2);

  ASSERT_NE(find(r, "ghost.txt", "label file has no image"), nullptr) << text;
  ASSERT_NE(find(r, "data.yaml", "'test' has no usable images"), nullptr) << text;

  // Exactly these: 5 errors (leakage, decode, bad class, ghost label, empty split), 2 warnings.
  EXPECT_EQ(r.errors(), 5) << text;
  EXPECT_EQ(r.warnings(), 2) << text;
  // No false near-duplicate among the distinct radiographs.
  int near = 0;
  for (const auto& x : r.findings) near += x.kind == "near_duplicate";
  EXPECT_EQ(near, 1) << text;

  // Summary: train lists a, b, b_dup, c, corrupt (badclass skipped by the loader); 4 decode.
  ASSERT_GE(r.splits.size(), 2u);
  EXPECT_EQ(r.splits[0].name, "train");
  EXPECT_EQ(r.splits[0].images, 5) << text;
  EXPECT_EQ(r.splits[0].decoded, 4) << text;
  EXPECT_EQ(r.splits[1].formats.at("png"), 1) << text;
  EXPECT_NE(text.find("error: "), std::string::npos);
  EXPECT_NE(text.find("5 errors, 2 warnings"), std::string::npos) << text;
  // Near-duplicate pairs print as their clusters: the c / c_flipped pair is one cluster line.
  EXPECT_NE(text.find("near-duplicates: 2 images (splits train+val; pHash"), std::string::npos) << text;
  EXPECT_NE(text.find("(1 of them near-duplicate pairs, in 1 cluster;"), std::string::npos) << text;
  // Printing at most zero warnings keeps every error and counts what was left out.
  std::string capped = fracture::format_report(r, 0);
  size_t n_warn = 0, n_err = 0;
  for (size_t p = capped.find("warning: "); p != std::string::npos; p = capped.find("warning: ", p + 1)) ++n_warn;
  for (size_t p = capped.find("error: "); p != std::string::npos; p = capped.find("error: ", p + 1)) ++n_err;
  EXPECT_EQ(n_warn, 0u) << capped;
  EXPECT_EQ(n_err, 5u) << capped;
  EXPECT_NE(capped.find("... 1 more warnings not printed"), std::string::npos) << capped;
  EXPECT_NE(capped.find("... 1 more near-duplicate clusters not printed"), std::string::npos) << capped;

  nlohmann::json j = fracture::report_json(r);
  EXPECT_EQ(j["errors"], 5);
  EXPECT_EQ(j["warnings"], 2);
  EXPECT_EQ(j["findings"].size(), 7u);
  EXPECT_EQ(snapshot(dir_ / "ds"), before) << "check wrote into the dataset folder";
}

TEST_F(CheckTest, StrictStopsAtFirstErrorNamingTheFile) {
  fs::path data = make_broken();
  fracture::CheckOptions opt;
  opt.strict = true;
  try {
    fracture::check_dataset(data, opt, *log_);
    FAIL() << "expected an error";
  } catch (const fracture::Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("badclass.txt:2") != std::string::npos || m.find("ghost.txt") != std::string::npos ||
                m.find("data.yaml") != std::string::npos)
        << m;
  }
  // Only a decode error left: strict names the image.
  fs::path d2 = dir_ / "ds2";
  fs::create_directories(d2 / "images/train");
  fs::create_directories(d2 / "images/val");
  auto pos = fixture_images("fractured");
  fs::copy_file(pos[0], d2 / "images/train/a.jpg");
  fs::copy_file(pos[1], d2 / "images/val/b.jpg");
  std::string bytes = fracture::read_file(pos[2]);
  fracture::write_file_atomic(d2 / "images/val/broken.jpg", bytes.substr(0, 100));
  fracture::write_file_atomic(d2 / "data.yaml", "train: images/train\nval: images/val\nnames: [fractured]\n");
  try {
    fracture::check_dataset(d2 / "data.yaml", opt, *log_);
    FAIL() << "expected an error";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jpg: cannot decode"), std::string::npos) << e.what();
  }
  // Warnings alone never stop strict mode: a within-split copy passes with exit-0 semantics.
  fs::remove(d2 / "images/val/broken.jpg");
  fs::copy_file(pos[1], d2 / "images/val/b2.jpg");
  fracture::CheckReport r = fracture::check_dataset(d2 / "data.yaml", opt, *log_);
  EXPECT_EQ(r.errors(), 0) << all(r);
  EXPECT_EQ(r.warnings(), 1) << all(r);
}

TEST_F(CheckTest, CsvManifestLeakageAndClasses) {
  auto pos = fixture_images("fractured"), neg = fixture_images("negatives");
  fs::create_directories(dir_ / "csv/img");
  for (int i = 0; i < 3; ++i) {
    fs::copy_file(pos[i], dir_ / "csv/img" / ("p" + std::to_string(i) + ".jpg"));
    fs::copy_file(neg[i], dir_ / "csv/img" / ("n" + std::to_string(i) + ".jpg"));
  }
  fs::copy_file(pos[0], dir_ / "csv/img/p0_copy.jpg");
  fracture::write_file_atomic(dir_ / "csv/manifest.csv",
                              "path,label,patient_id,split\n"
                              "img/p0.jpg,fractured,P1,train\nimg/n0.jpg,normal,P2,train\nimg/p1.jpg,fractured,P3,train\n"
                              "img/n1.jpg,normal,P4,val\nimg/p2.jpg,fractured,P5,val\nimg/p0_copy.jpg,fractured,P1,val\n");
  fracture::CheckOptions opt;
  opt.strict = false;
  fracture::CheckReport r = fracture::check_dataset(dir_ / "csv/manifest.csv", opt, *log_);
  EXPECT_EQ(r.kind, "csv");
  ASSERT_EQ(r.splits.size(), 2u) << all(r);
  EXPECT_EQ(r.splits[0].per_class, std::vector<long>({1, 2}));
  EXPECT_EQ(r.splits[1].per_class, std::vector<long>({1, 2}));
  const fracture::Finding* f = find(r, "p0_copy.jpg", "p0.jpg in split 'train' and in split 'val'");
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_TRUE(f->error);
  // Patient P1 has p0 in train and its copy in val: patient-level leakage, an error of its own,
  // with the id shown only as a salted hash.
  f = find(r, "manifest.csv", "the same patient in two splits (patient-level leakage)");
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_TRUE(f->error);
  EXPECT_NE(f->where.message.find("1 image(s) in split 'train' and 1 in split 'val'"), std::string::npos) << f->where.message;
  EXPECT_EQ(all(r).find("P1"), std::string::npos) << "a patient id was printed:\n" << all(r);
  EXPECT_EQ(r.errors(), 2) << all(r);
  EXPECT_EQ(r.warnings(), 0) << all(r);
  ASSERT_EQ(r.overlaps.size(), 1u);
  EXPECT_EQ(r.overlaps[0].earlier, "train");
  EXPECT_EQ(r.overlaps[0].later, "val");
  EXPECT_EQ(r.overlaps[0].later_images, 3);
  EXPECT_EQ(r.overlaps[0].shared, 1);
  EXPECT_EQ(r.overlaps[0].byte_identical, 1);
  EXPECT_EQ(r.overlaps[0].near, 0);
  EXPECT_EQ(r.overlaps[0].clusters, 1);
  EXPECT_EQ(r.overlaps[0].patients, 1);
  EXPECT_NE(all(r).find("val: 1 of 3 images (1 cluster) also appear in train (byte-identical: 1; near-duplicate: 0); "
                        "1 patient in both"),
            std::string::npos)
      << all(r);
  opt.strict = true;
  EXPECT_THROW(fracture::check_dataset(dir_ / "csv/manifest.csv", opt, *log_), fracture::Error);
}

TEST_F(CheckTest, ClustersAndSplitOverlapsCountEachImageOnce) {
  // train: a, b, c; val: a twice more (one byte-identical copy, one flipped PNG), b flipped, d; test: c
  // byte-identical. Expected: val 3 of 4 images shared with train (byte-identical 1, near 2) in 2
  // clusters; test 1 of 1 (byte-identical) in 1 cluster; val and test share nothing.
  auto pos = fixture_images("fractured"), neg = fixture_images("negatives");
  copy_item(pos[0], "train", "a");
  copy_item(pos[1], "train", "b");
  copy_item(neg[0], "train", "c");
  copy_item(pos[0], "val", "a_copy");
  copy_item(neg[1], "val", "d");
  copy_item(neg[0], "test", "c_copy");
  for (const auto& [src, name] : {std::pair{pos[0], "a_flipped"}, std::pair{pos[1], "b_flipped"}}) {
    cv::Mat m = cv::imread(src.string(), cv::IMREAD_GRAYSCALE), f;
    cv::flip(m, f, 1);
    cv::imwrite((dir_ / "ds/images/val" / (std::string(name) + ".png")).string(), f);
  }
  fs::create_directories(dir_ / "ds/images/test");
  fracture::write_file_atomic(dir_ / "ds/data.yaml",
                              "path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames: [fractured]\n");
  fracture::CheckOptions opt;
  opt.strict = false;
  const fracture::CheckReport r = fracture::check_dataset(dir_ / "ds/data.yaml", opt, *log_);
  ASSERT_EQ(r.overlaps.size(), 3u) << all(r);
  const auto& tv = r.overlaps[0];  // train -> val
  EXPECT_EQ(tv.later, "val");
  EXPECT_EQ(tv.later_images, 4);
  EXPECT_EQ(tv.shared, 3);
  EXPECT_EQ(tv.byte_identical, 1);
  EXPECT_EQ(tv.near, 2);
  EXPECT_EQ(tv.clusters, 2);
  const auto& tt = r.overlaps[1];  // train -> test
  EXPECT_EQ(tt.later, "test");
  EXPECT_EQ(tt.shared, 1);
  EXPECT_EQ(tt.byte_identical, 1);
  EXPECT_EQ(tt.clusters, 1);
  EXPECT_EQ(r.overlaps[2].shared, 0);  // val -> test
  // clusters: {a, a_copy, a_flipped} (3, near links), {b, b_flipped}, {c, c_copy} (byte-identical only)
  ASSERT_EQ(r.clusters.size(), 3u) << all(r);
  EXPECT_EQ(r.clusters[0].files.size(), 3u);
  EXPECT_FALSE(r.clusters[0].byte_identical);
  EXPECT_GE(r.clusters[0].max_bits, 0);
  int exact_only = 0;
  for (const auto& c : r.clusters) exact_only += c.byte_identical;
  EXPECT_EQ(exact_only, 1);
  EXPECT_NE(all(r).find("duplicate clusters: 3 (1 byte-identical only), largest 3 images"), std::string::npos) << all(r);
  const nlohmann::json j = fracture::report_json(r);
  EXPECT_EQ(j["overlaps"][0]["near"], 2);
  EXPECT_EQ(j["clusters"].size(), 3u);
}

TEST_F(CheckTest, RefusesToWriteIntoDataset) {
  fs::path data = make_broken();
  EXPECT_THROW(fracture::refuse_write_into_dataset(dir_ / "ds/report.json", data), fracture::Error);
  EXPECT_THROW(fracture::refuse_write_into_dataset(dir_ / "ds/images/x.json", data), fracture::Error);
  EXPECT_NO_THROW(fracture::refuse_write_into_dataset(dir_ / "report.json", data));
  EXPECT_NO_THROW(fracture::refuse_write_into_dataset(dir_ / "ds_report.json", data));
  EXPECT_THROW(fracture::check_dataset(dir_ / "nothing.yaml", {}, *log_), fracture::Error);
  fracture::write_file_atomic(dir_ / "x.txt", "hello");
  EXPECT_THROW(fracture::check_dataset(dir_ / "x.txt", {}, *log_), fracture::Error);
}

#if FRACTURE_WITH_DICOM
TEST_F(CheckTest, DicomPatientIdInTwoSplitsIsPatientLeakage) {
  // Class folders in the split layout, DICOM files: patient DCM9 has an image in train and in test.
  cv::Mat a(40, 50, CV_16UC1), b(40, 50, CV_16UC1), c(40, 50, CV_16UC1);
  cv::randu(a, 0, 60000);
  cv::randu(b, 0, 60000);
  cv::randu(c, 0, 60000);
  for (const char* d : {"train/fractured", "train/normal", "test/fractured", "test/normal"})
    fs::create_directories(dir_ / "dcm" / d);
  fracture::DicomWriteOptions w;
  w.patient_id = "DCM9";
  fracture::write_dicom(dir_ / "dcm/train/fractured/a.dcm", a, w);
  fracture::write_dicom(dir_ / "dcm/test/normal/b.dcm", b, w);
  w.patient_id = "DCM1";
  fracture::write_dicom(dir_ / "dcm/train/normal/c.dcm", c, w);
  w.patient_id = "DCM2";
  fracture::write_dicom(dir_ / "dcm/test/fractured/d.dcm", a.t(), w);
  fracture::CheckOptions opt;
  opt.strict = false;
  const fracture::CheckReport r = fracture::check_dataset(dir_ / "dcm", opt, *log_);
  const fracture::Finding* f = find(r, "dcm", "the same patient in two splits (patient-level leakage)");
  ASSERT_NE(f, nullptr) << all(r);
  EXPECT_NE(f->where.message.find("split 'train' and 1 in split 'test'"), std::string::npos) << f->where.message;
  EXPECT_EQ(all(r).find("DCM9"), std::string::npos) << "a patient id was printed:\n" << all(r);
  long patients = 0;
  for (const auto& o : r.overlaps) patients += o.patients;
  EXPECT_EQ(patients, 1) << all(r);
}
#endif
