// Synthetic radiograph generator: determinism, label validity, class/split statistics, 16-bit
// output, output-folder safety, and "looks like a radiograph" against the FracAtlas fixture.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/log.h"
#include "fracture/data/dicom.h"
#include "fracture/data/synth.h"
#include "fracture/data/yolo.h"

namespace fs = std::filesystem;
using fracture::SynthOptions;

namespace {

fs::path temp_dir(const std::string& name) {
  std::random_device rd;
  fs::path p = fs::temp_directory_path() / ("fracture_synth_test_" + name + "_" + std::to_string(rd()));
  fs::remove_all(p);
  return p;
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(temp_dir(name)) {}
  ~TempDir() { fs::remove_all(path); }
};

SynthOptions small(int n, int imgsz, uint64_t seed) {
  SynthOptions o;
  o.n = n;
  o.imgsz = imgsz;
  o.seed = seed;
  return o;
}

std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = fracture::read_file(e.path());
  return files;
}

struct Row {
  std::string path;
  int label;
  std::string patient, split;
};

std::vector<Row> read_csv(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "path,label,patient_id,split");
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    Row r;
    std::string label;
    std::getline(ss, r.path, ',');
    std::getline(ss, label, ',');
    std::getline(ss, r.patient, ',');
    std::getline(ss, r.split, ',');
    r.label = std::stoi(label);
    rows.push_back(r);
  }
  return rows;
}

std::vector<fracture::Box> read_labels(const fs::path& file) {
  std::ifstream in(file);
  EXPECT_TRUE(in.good()) << file;
  std::vector<fracture::Box> boxes;
  fracture::Box b;
  while (in >> b.cls >> b.cx >> b.cy >> b.w >> b.h) boxes.push_back(b);
  return boxes;
}

fs::path label_of(const fs::path& root, const std::string& image_rel) {
  std::string s = image_rel;
  s.replace(0, std::string("images/").size(), "labels/");
  return root / fs::path(s).replace_extension(".txt");
}

}  // namespace

TEST(Synth, SameSeedGivesIdenticalFilesForAnyThreadCount) {
  TempDir a("a"), b("b"), c("c");
  auto log = fracture::null_logger();
  SynthOptions o = small(14, 32, 5);
  o.threads = 1;
  fracture::write_synth(o, a.path, *log);
  o.threads = 2;
  fracture::write_synth(o, b.path, *log);
  auto ta = read_tree(a.path), tb = read_tree(b.path);
  ASSERT_EQ(ta.size(), tb.size());
  EXPECT_GE(ta.size(), 14u * 2 + 3);
  for (const auto& [k, v] : ta) {
    ASSERT_TRUE(tb.count(k)) << k;
    EXPECT_TRUE(v == tb[k]) << k << " differs between 1 and 2 threads";
  }
  o.seed = 6;
  fracture::write_synth(o, c.path, *log);
  auto tc = read_tree(c.path);
  int differing = 0, compared = 0;
  for (const auto& [k, v] : ta)
    if (k.size() > 4 && k.substr(k.size() - 4) == ".png" && tc.count(k)) {
      ++compared;
      differing += v != tc[k];
    }
  // file names carry patient ids, which also depend on the seed; compare decoded pixels in order
  std::vector<std::string> pa, pc;
  for (const auto& [k, v] : ta)
    if (k.find(".png") != std::string::npos) pa.push_back(v);
  for (const auto& [k, v] : tc)
    if (k.find(".png") != std::string::npos) pc.push_back(v);
  ASSERT_EQ(pa.size(), pc.size());
  int same = 0;
  for (size_t i = 0; i < pa.size(); ++i) same += pa[i] == pc[i];
  EXPECT_EQ(same, 0) << "a different seed should change every image";
  EXPECT_EQ(differing, compared);
}

TEST(Synth, RenderIsDeterministicInMemory) {
  SynthOptions o = small(3, 48, 11);
  auto plan = fracture::plan_synth(o);
  auto x = fracture::render_synth(o, plan[2]);
  auto y = fracture::render_synth(o, plan[2]);
  ASSERT_EQ(x.image.type(), CV_32FC1);
  ASSERT_EQ(x.image.rows, 48);
  EXPECT_EQ(cv::norm(x.image, y.image, cv::NORM_INF), 0.0);
  double lo, hi;
  cv::minMaxLoc(x.image, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
}

TEST(Synth, DatasetLayoutLabelsAndStatistics) {
  TempDir d("stats");
  auto log = fracture::null_logger();
  SynthOptions o = small(120, 32, 3);
  auto sum = fracture::write_synth(o, d.path, *log);
  EXPECT_EQ(sum.images, 120);

  std::string yaml = fracture::read_file(d.path / "data.yaml");
  for (const char* s : {"path: .", "train: images/train", "val: images/val", "test: images/test", "nc: 7",
                        "'elbow positive'", "'humerus'", "'wrist positive'"})
    EXPECT_NE(yaml.find(s), std::string::npos) << s << "\n" << yaml;
  std::string readme = fracture::read_file(d.path / "README.md");
  EXPECT_NE(readme.find("seed: 3"), std::string::npos);
  EXPECT_NE(readme.find("difficulty: medium"), std::string::npos);
  EXPECT_NE(readme.find("images: 120"), std::string::npos);

  auto rows = read_csv(d.path / "classification.csv");
  ASSERT_EQ(rows.size(), 120u);
  std::map<std::string, std::string> split_of;
  std::map<std::string, int> per_split;
  std::vector<int> per_class(7, 0);
  int fractured = 0, humerus_only = 0;
  for (const auto& r : rows) {
    ASSERT_TRUE(fs::exists(d.path / r.path)) << r.path;
    EXPECT_EQ(r.path.rfind("images/" + r.split + "/", 0), 0u) << r.path;
    // one split per patient
    auto it = split_of.find(r.patient);
    if (it == split_of.end())
      split_of[r.patient] = r.split;
    else
      EXPECT_EQ(it->second, r.split) << "patient " << r.patient << " spans splits";
    per_split[r.split]++;
    cv::Mat im = cv::imread((d.path / r.path).string(), cv::IMREAD_UNCHANGED);
    ASSERT_EQ(im.type(), CV_8UC1) << r.path;
    ASSERT_EQ(im.rows, 32);
    ASSERT_EQ(im.cols, 32);
    auto boxes = read_labels(label_of(d.path, r.path));
    bool any_fracture = false;
    for (const auto& b : boxes) {
      ASSERT_GE(b.cls, 0);
      ASSERT_LE(b.cls, 6);
      per_class[b.cls]++;
      any_fracture |= b.cls != fracture::kSynthHumerusClass;
      for (float v : {b.cx, b.cy, b.w, b.h}) {
        EXPECT_GT(v, 0.0f) << r.path;
        EXPECT_LE(v, 1.0f) << r.path;
      }
      EXPECT_GE(b.cx - b.w / 2, -1e-5f) << r.path;
      EXPECT_LE(b.cx + b.w / 2, 1 + 1e-5f) << r.path;
      EXPECT_GE(b.cy - b.h / 2, -1e-5f) << r.path;
      EXPECT_LE(b.cy + b.h / 2, 1 + 1e-5f) << r.path;
    }
    EXPECT_EQ(r.label, any_fracture ? 1 : 0) << r.path;
    if (!boxes.empty() && !any_fracture) {
      ++humerus_only;
      EXPECT_EQ(r.label, 0) << "a humerus-only image is not fractured: " << r.path;
    }
    fractured += r.label;
  }
  // fracture_rate 0.5 on 120 images: binomial sd 0.046; allow 3 sd
  EXPECT_NEAR(fractured / 120.0, 0.5, 0.14);
  for (int c = 0; c < 7; ++c) EXPECT_GT(per_class[c], 0) << "class " << c << " never appears";
  EXPECT_GT(humerus_only, 0) << "expected some healthy humerus images with a `humerus` box";
  EXPECT_NEAR(per_split["train"] / 120.0, 0.70, 0.08);
  EXPECT_GT(per_split["val"], 5);
  EXPECT_GT(per_split["test"], 5);
  EXPECT_EQ(sum.fractured, fractured);
}

TEST(Synth, FractureRateExtremes) {
  for (double rate : {0.0, 1.0}) {
    SynthOptions o = small(60, 32, 9);
    o.fracture_rate = rate;
    auto plan = fracture::plan_synth(o);
    int pos = 0;
    for (const auto& it : plan) pos += fracture::render_synth(o, it).label;
    if (rate == 0.0)
      EXPECT_EQ(pos, 0);
    else
      EXPECT_GE(pos, 57) << "almost every image should carry a fracture at fracture_rate=1";
  }
}

TEST(Synth, SixteenBitPngHasMoreThan256Levels) {
  TempDir d("b16");
  auto log = fracture::null_logger();
  SynthOptions o = small(4, 64, 1);
  o.bits = 16;
  fracture::write_synth(o, d.path, *log);
  auto rows = read_csv(d.path / "classification.csv");
  ASSERT_FALSE(rows.empty());
  cv::Mat im = cv::imread((d.path / rows[0].path).string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(im.type(), CV_16UC1);
  std::set<uint16_t> levels(im.begin<uint16_t>(), im.end<uint16_t>());
  EXPECT_GT(levels.size(), 256u);
}

TEST(Synth, RefusesForeignFolderAndReplacesItsOwnOutput) {
  TempDir d("out");
  auto log = fracture::null_logger();
  fs::create_directories(d.path);
  fracture::write_file_atomic(d.path / "mine.txt", "user data");
  try {
    fracture::write_synth(small(3, 32, 0), d.path, *log);
    FAIL() << "expected a refusal";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a previous `fracture synth` output"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fracture::read_file(d.path / "mine.txt"), "user data");
  fs::remove(d.path / "mine.txt");
  fracture::write_synth(small(10, 32, 0), d.path, *log);
  fracture::write_synth(small(4, 32, 0), d.path, *log);  // a rerun replaces the earlier files
  int pngs = 0;
  for (const auto& e : fs::recursive_directory_iterator(d.path / "images")) pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 4);
  // a previous output with a foreign file in it is refused too
  fracture::write_file_atomic(d.path / "notes.txt", "x");
  EXPECT_THROW(fracture::write_synth(small(4, 32, 0), d.path, *log), fracture::Error);
  EXPECT_TRUE(fs::exists(d.path / "notes.txt"));
}

TEST(Synth, ValidatesOptions) {
  auto expect_error = [](SynthOptions o, const std::string& word) {
    try {
      fracture::validate(o);
      ADD_FAILURE() << "expected an error mentioning " << word;
    } catch (const fracture::Error& e) {
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  SynthOptions o;
  o.bits = 12;
  expect_error(o, "bits");
  o = {};
  o.difficulty = "extreme";
  expect_error(o, "difficulty");
  o = {};
  o.fracture_rate = 1.5;
  expect_error(o, "fracture_rate");
  o = {};
  o.imgsz = 8;
  expect_error(o, "imgsz");
  o = {};
  o.n = 0;
  expect_error(o, "n must be");
}

// --- looks like a radiograph ---------------------------------------------------------------------
// Simple image statistics at 128 x 128 (grey 8-bit scale):
//   dark   fraction of pixels below 30 (background outside the body)
//   mean   mean intensity
//   edges  fraction of pixels whose Sobel gradient magnitude exceeds 60 (edge density)
//   spread 95th minus 5th percentile (histogram spread)
struct Stats {
  double dark, mean, edges, spread;
};

Stats stats_of(const cv::Mat& grey8) {
  cv::Mat m;
  cv::resize(grey8, m, cv::Size(128, 128), 0, 0, cv::INTER_AREA);
  Stats s{};
  s.dark = cv::countNonZero(m < 30) / double(m.total());
  s.mean = cv::mean(m)[0];
  cv::Mat gx, gy, mag;
  cv::Sobel(m, gx, CV_32F, 1, 0);
  cv::Sobel(m, gy, CV_32F, 0, 1);
  cv::magnitude(gx, gy, mag);
  s.edges = cv::countNonZero(mag > 60) / double(m.total());
  std::vector<uchar> v(m.begin<uchar>(), m.end<uchar>());
  std::sort(v.begin(), v.end());
  s.spread = double(v[v.size() * 95 / 100]) - double(v[v.size() * 5 / 100]);
  return s;
}

TEST(Synth, LooksLikeARadiographComparedWithFracAtlas) {
  std::vector<Stats> real;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(FRACTURE_FIXTURES) / "fracatlas-sample" / "images")) {
    if (e.path().extension() != ".jpg") continue;
    cv::Mat g = cv::imread(e.path().string(), cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(g.empty()) << e.path();
    real.push_back(stats_of(g));
  }
  ASSERT_GE(real.size(), 20u);
  SynthOptions o = small(36, 128, 21);
  auto plan = fracture::plan_synth(o);
  std::vector<Stats> syn;
  for (const auto& it : plan) {
    cv::Mat g;
    fracture::render_synth(o, it).image.convertTo(g, CV_8U, 255.0);
    syn.push_back(stats_of(g));
  }
  auto mean_of = [](const std::vector<Stats>& v, double Stats::*f) {
    double s = 0;
    for (const auto& x : v) s += x.*f;
    return s / v.size();
  };
  auto range_of = [](const std::vector<Stats>& v, double Stats::*f) {
    double lo = 1e30, hi = -1e30;
    for (const auto& x : v) lo = std::min(lo, x.*f), hi = std::max(hi, x.*f);
    return std::make_pair(lo, hi);
  };
  struct Field {
    const char* name;
    double Stats::*f;
    double tol;  // allowed ratio between synthetic and real means
  };
  for (Field fd : {Field{"dark", &Stats::dark, 2.0}, Field{"mean", &Stats::mean, 1.6},
                   Field{"edges", &Stats::edges, 3.0}, Field{"spread", &Stats::spread, 1.6}}) {
    double rs = mean_of(real, fd.f), ss = mean_of(syn, fd.f);
    auto [lo, hi] = range_of(real, fd.f);
    std::printf("  %-6s real mean %.4f (range %.4f..%.4f)  synthetic mean %.4f\n", fd.name, rs, lo, hi, ss);
    // the synthetic average lies within the real images' range and within a factor of their mean
    EXPECT_GE(ss, lo) << fd.name;
    EXPECT_LE(ss, hi) << fd.name;
    EXPECT_LE(std::max(ss, rs) / std::max(1e-9, std::min(ss, rs)), fd.tol) << fd.name;
  }
  // Not a flat image: every synthetic image has bone (bright), background (dark) and edges.
  for (const auto& s : syn) {
    EXPECT_GT(s.spread, 40);
    EXPECT_GT(s.edges, 0.0);
  }
}

TEST(Synth, DicomCopiesWhenSupported) {
  TempDir d("dcm");
  auto log = fracture::null_logger();
  SynthOptions o = small(4, 48, 2);
  o.dicom = true;
  if (!fracture::dicom_supported()) {
    EXPECT_THROW(fracture::write_synth(o, d.path, *log), fracture::Error);
    GTEST_SKIP() << "built without DICOM";
  }
  fracture::write_synth(o, d.path, *log);
  auto rows = read_csv(d.path / "classification.csv");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& r : rows) {
    fs::path dcm = d.path / "dicom" / r.split / fs::path(r.path).filename().replace_extension(".dcm");
    ASSERT_TRUE(fs::exists(dcm)) << dcm;
    fracture::Image im = fracture::read_dicom(dcm, {});
    EXPECT_EQ(im.pixels.rows, 48);
    EXPECT_EQ(im.pixels.cols, 48);
    // same picture as the PNG: strongly correlated pixels
    cv::Mat png = cv::imread((d.path / r.path).string(), cv::IMREAD_GRAYSCALE), a, b;
    png.convertTo(a, CV_64F);
    im.pixels.convertTo(b, CV_64F);
    cv::Scalar ma, sa, mb, sb;
    cv::meanStdDev(a, ma, sa);
    cv::meanStdDev(b, mb, sb);
    double corr = cv::mean((a - ma[0]).mul(b - mb[0]))[0] / (sa[0] * sb[0] + 1e-12);
    EXPECT_GT(corr, 0.99) << dcm;
  }
}

// A tiny set whose patients all land in train/val must still give a data.yaml that loads: a split
// without images is not listed (load_yolo refuses a listed split without images).
TEST(Synth, TinySetWithEmptySplitLoads) {
  for (int n : {10, 16, 24}) {
    TempDir d("tiny" + std::to_string(n));
    auto log = fracture::null_logger();
    fracture::write_synth(small(n, 32, 1), d.path, *log);
    std::vector<fracture::Problem> problems;
    fracture::DetDataset ds;
    EXPECT_NO_THROW(ds = fracture::load_yolo(d.path / "data.yaml", true, *log, &problems)) << "n=" << n;
    size_t total = 0;
    for (const auto& [split, items] : ds.splits) {
      EXPECT_FALSE(items.empty()) << "n=" << n << ": split " << split << " listed without images";
      total += items.size();
    }
    EXPECT_EQ(total, static_cast<size_t>(n)) << "n=" << n;
  }
}

// The labels are tied to the pixels. Rendered with its fracture lines (no displacement, no
// swelling) and with no fracture at all, an image differs only inside its fracture boxes (grown by
// 2 px for the film's blur and the resize), and inside every box it differs. The displaced distal
// fragment and the soft-tissue swelling are meant to reach beyond the box, as on a film: the box
// marks the break, as FracAtlas' boxes do.
TEST(Synth, FractureLinesLieInsideTheirBoxes) {
  int images = 0, boxes = 0;
  double worst_outside = 0;
  for (const char* difficulty : {"easy", "medium", "hard"}) {
    SynthOptions o = small(40, 128, 5);
    o.difficulty = difficulty;
    o.fracture_rate = 1.0;
    fracture::SynthRenderParts lines, none;
    lines.displacement = lines.swelling = false;
    none.fractures = false;
    for (const fracture::SynthPlanItem& item : fracture::plan_synth(o)) {
      const fracture::SynthSample a = fracture::render_synth(o, item, lines), b = fracture::render_synth(o, item, none);
      ASSERT_EQ(a.boxes.size(), b.boxes.size());
      cv::Mat diff;
      cv::absdiff(a.image, b.image, diff);
      cv::Mat inside = cv::Mat::zeros(diff.size(), CV_8U);
      for (const fracture::Box& x : a.boxes) {
        if (x.cls == 4) continue;  // the humerus anatomy box
        const int S = diff.cols;
        cv::Rect r(int(std::floor((x.cx - x.w / 2) * S)) - 2, int(std::floor((x.cy - x.h / 2) * S)) - 2,
                   int(std::ceil(x.w * S)) + 5, int(std::ceil(x.h * S)) + 5);
        r &= cv::Rect(0, 0, S, S);
        double in_box = 0;
        cv::minMaxLoc(diff(r), nullptr, &in_box);
        EXPECT_GT(in_box, 0.01) << difficulty << " image " << item.index << ": a box without its fracture's pixels";
        inside(r).setTo(1);
        ++boxes;
      }
      double outside = 0;
      cv::minMaxLoc(diff, nullptr, &outside, nullptr, nullptr, inside == 0);
      worst_outside = std::max(worst_outside, outside);
      EXPECT_LT(outside, 1e-3) << difficulty << " image " << item.index << ": the fracture changes pixels outside its boxes";
      ++images;
    }
  }
  std::printf("fracture lines vs boxes: %d images, %d boxes, largest change outside a box %.2e\n", images, boxes,
              worst_outside);
  EXPECT_GT(boxes, 100);
}
