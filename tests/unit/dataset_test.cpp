// Dataset loaders: YOLO data.yaml (FracAtlas fixture + generated bad inputs), COCO import, class
// folders, CSV manifests and image labels derived from detection. Bad inputs are generated in a temp
// folder; the fixture folder is only read.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/core/log.h"
#include "fracture/data/classification.h"
#include "fracture/data/dataset.h"
#include "fracture/data/yolo.h"
#include "expect_error.h"

namespace fs = std::filesystem;
using fracture::test::expect_error;
using fracture::Problem;

namespace {

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("fracture_dataset_test_" + std::to_string(rd()));
    fs::create_directories(dir_);
    log_ = fracture::null_logger();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path text(const std::string& rel, const std::string& content) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  fs::path image(const std::string& rel) {
    fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    cv::imwrite(p.string(), cv::Mat(8, 8, CV_8UC1, cv::Scalar(100)));
    return p;
  }
  // A small valid YOLO dataset: images/{train,val}/*.png, labels/{train,val}/*.txt.
  fs::path make_yolo(const std::string& extra_train_label = "") {
    image("images/train/a.png");
    image("images/train/b.png");
    image("images/val/c.png");
    text("labels/train/a.txt", "0 0.5 0.5 0.2 0.2\n1 0.25 0.75 0.1 0.3\n");
    text("labels/train/b.txt", extra_train_label);
    return text("data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [bone fracture, other]\n");
  }

  // A label-file problem must be reported as "<label file>:<line>: ..." in strict mode.
  void expect_label_error(const std::string& label_content, const std::string& what, int line) {
    make_yolo(label_content);
    std::string where = (dir_ / "labels/train/b.txt").string() + ":" + std::to_string(line) + ":";
    expect_error([&] { fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr); }, {where, what});
  }

  fs::path dir_;
  std::shared_ptr<fracture::Logger> log_;
};

}  // namespace

TEST_F(DatasetTest, FracAtlasFixtureLoads) {
  fs::path yaml = fs::path(FRACTURE_FIXTURES) / "fracatlas-sample" / "data.yaml";
  std::vector<Problem> problems;
  fracture::DetDataset ds = fracture::load_yolo(yaml, true, *log_, &problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(ds.names, std::vector<std::string>{"fractured"});
  ASSERT_EQ(ds.splits.count("train"), 1u);
  ASSERT_EQ(ds.splits.count("val"), 1u);
  EXPECT_EQ(ds.splits.count("test"), 0u);
  ASSERT_EQ(ds.splits.at("train").size(), 12u);
  // The fixture README says 12 negatives, but the repository holds 11 (11 images, 11 empty labels).
  ASSERT_EQ(ds.splits.at("val").size(), 11u);
  for (const auto& it : ds.splits.at("train")) {
    EXPECT_FALSE(it.boxes.empty()) << it.image;
    EXPECT_EQ(it.label.filename().string(), it.image.stem().string() + ".txt");
    for (const auto& b : it.boxes) {
      EXPECT_EQ(b.cls, 0);
      EXPECT_GT(b.w, 0);
      EXPECT_LE(b.cx, 1);
    }
  }
  for (const auto& it : ds.splits.at("val")) EXPECT_TRUE(it.boxes.empty()) << it.image;
  // First label line of IMG0000599: "0 0.6583 0.4150 0.0749 0.0838" (sorted order is by path).
  const auto& train = ds.splits.at("train");
  auto it = std::find_if(train.begin(), train.end(), [](const auto& d) { return d.image.stem() == "IMG0000599"; });
  ASSERT_NE(it, train.end());
  EXPECT_FLOAT_EQ(it->boxes[0].cx, 0.6583f);
  EXPECT_FLOAT_EQ(it->boxes[0].h, 0.0838f);

  fracture::ClsDataset pos = fracture::cls_from_detection(ds, "train", {});
  fracture::ClsDataset neg = fracture::cls_from_detection(ds, "val", {"fractured"});
  ASSERT_EQ(pos.items.size(), 12u);
  for (const auto& c : pos.items) EXPECT_EQ(c.label, 1);
  for (const auto& c : neg.items) EXPECT_EQ(c.label, 0);
  fracture::ClsDataset all = fracture::load_classification(yaml, "fractured", true, *log_, nullptr);
  ASSERT_EQ(all.items.size(), 23u);
  EXPECT_EQ(all.items.front().split, "train");
  EXPECT_EQ(all.items.back().split, "val");
}

TEST_F(DatasetTest, YoloValidDatasetAndLabelPaths) {
  make_yolo("");
  fracture::DetDataset ds = fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr);
  ASSERT_EQ(ds.splits.at("train").size(), 2u);
  const auto& a = ds.splits.at("train")[0];
  EXPECT_EQ(a.image.filename(), "a.png");
  ASSERT_EQ(a.boxes.size(), 2u);
  EXPECT_EQ(a.boxes[1].cls, 1);
  EXPECT_FLOAT_EQ(a.boxes[1].h, 0.3f);
  EXPECT_TRUE(ds.splits.at("train")[1].boxes.empty());  // empty label file = background
  EXPECT_TRUE(ds.splits.at("val")[0].boxes.empty());    // no label file = background
  EXPECT_TRUE(ds.splits.at("val")[0].label.empty());
  EXPECT_EQ(fracture::yolo_label_path("/d/images/x/images/y/z.jpg"), fs::path("/d/images/x/labels/y/z.txt"));
  EXPECT_EQ(fracture::yolo_label_path("/d/pics/z.jpg"), fs::path("/d/pics/z.txt"));
}

TEST_F(DatasetTest, YoloBadLabelLinesNameFileAndLine) {
  expect_label_error("0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.1 0.1\n", "class index 2 is out of range: nc = 2", 2);
  expect_label_error("\n0 0.5 abc 0.1 0.1\n", "('abc') is not a finite number", 2);
  expect_label_error("0 0.5 0.5 1.2 0.1\n", "outside [0, 1]", 1);
  expect_label_error("0 -0.01 0.5 0.2 0.1\n", "outside [0, 1]", 1);
  expect_label_error("0 0.5 0.5 0.1\n", "expected 5 fields", 1);
  expect_label_error("0 0.5 0.5 0.1 0.1 0.9\n", "got 6 fields", 1);
  expect_label_error("0 0.1 0.1 0.2 0.2 0.3\n", "got 6 fields", 1);  // polygon needs an odd count >= 7
  expect_label_error("x 0.5 0.5 0.1 0.1\n", "class index 'x'", 1);
  expect_label_error("0 0.5 0.5 0 0.1\n", "width and height must be > 0", 1);
}

TEST_F(DatasetTest, YoloPolygonsToleranceAndDuplicates) {
  make_yolo("1 0.1 0.2 0.5 0.2 0.3 0.6\n0 0.5 0.5 1.0005 0.2\n0 0.5 0.5 1.0005 0.2\n");
  fracture::DetDataset ds = fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr);
  const auto& b = ds.splits.at("train")[1].boxes;
  ASSERT_EQ(b.size(), 2u);  // the duplicate line is dropped
  EXPECT_EQ(b[0].cls, 1);
  EXPECT_NEAR(b[0].cx, 0.3, 1e-6);
  EXPECT_NEAR(b[0].cy, 0.4, 1e-6);
  EXPECT_NEAR(b[0].w, 0.4, 1e-6);
  EXPECT_NEAR(b[0].h, 0.4, 1e-6);
  EXPECT_FLOAT_EQ(b[1].w, 1.0f);  // 1.0005 is within tolerance and clamped
}

TEST_F(DatasetTest, YoloNonStrictSkipsAndCounts) {
  make_yolo("0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n");
  text("labels/train/orphan.txt", "0 0.5 0.5 0.1 0.1\n");
  text("labels/train/classes.txt", "bone fracture\nother\n");  // written by labelling tools; ignored
  std::vector<Problem> problems;
  fracture::DetDataset ds = fracture::load_yolo(dir_ / "data.yaml", false, *log_, &problems);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].file, dir_ / "labels/train/b.txt");
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_NE(problems[1].str().find("orphan.txt: label file has no image"), std::string::npos) << problems[1].str();
  ASSERT_EQ(ds.splits.at("train").size(), 1u);  // b.png skipped, a.png kept
  EXPECT_EQ(ds.splits.at("train")[0].image.filename(), "a.png");
  expect_error([&] { fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr); }, {"b.txt:2:"});
}

TEST_F(DatasetTest, YoloYamlStructureErrors) {
  make_yolo();
  auto yaml = [&](const std::string& s) { return text("data.yaml", s); };
  auto load = [&] { fracture::load_yolo(dir_ / "data.yaml", false, *log_, nullptr); };
  yaml("train: images/train\nnames: [a, b]\n");
  expect_error(load, {"data.yaml", "missing key 'val'"});
  yaml("train: images/train\nval: images/val\n");
  expect_error(load, {"data.yaml", "'names'", "'nc'"});
  yaml("train: images/train\nval: images/val\nnc: 3\nnames: [a, b]\n");
  expect_error(load, {"data.yaml:3", "'nc' is 3 but 'names' has 2"});
  yaml("train: images/train\nval: images/nope\nnames: [a, b]\n");
  expect_error(load, {"data.yaml:2", "'val' entry 'images/nope' not found"});
  yaml("path: elsewhere\ntrain: images/train\nval: images/val\nnames: [a, b]\n");
  expect_error(load, {"data.yaml:1", "'path' folder"});
  yaml("train: images/train\nval: images/val\nnames: {0: a, 2: b}\n");
  expect_error(load, {"data.yaml:3", "missing id 1"});
  yaml("train: [images/train\nval: x\n");
  expect_error(load, {"data.yaml", "not valid YAML"});
  // Empty split: a problem, so it throws in strict mode only.
  fs::create_directories(dir_ / "images/empty");
  yaml("train: images/train\nval: images/empty\nnames: [a, b]\n");
  expect_error([&] { fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr); },
               {"data.yaml:2", "split 'val' has no usable images"});
  std::vector<Problem> problems;
  fracture::load_yolo(dir_ / "data.yaml", false, *log_, &problems);
  EXPECT_EQ(problems.size(), 1u);
}

TEST_F(DatasetTest, YoloNamesMapTxtListsListsOfFoldersAndRelativePath) {
  make_yolo();
  image("images/extra/d.png");
  text("lists/val.txt", "../images/val/c.png\n\n./../images/extra/d.png\n");
  // The yaml lives in a sub folder; path is relative to it.
  text("cfg/data.yaml", "path: ..\ntrain: [images/train, images/extra]\nval: lists/val.txt\nnames:\n  0: bone fracture\n"
                        "  1: other\nnc: 2\n");
  fracture::DetDataset ds = fracture::load_yolo(dir_ / "cfg/data.yaml", true, *log_, nullptr);
  EXPECT_EQ(ds.names, (std::vector<std::string>{"bone fracture", "other"}));
  EXPECT_EQ(ds.splits.at("train").size(), 3u);
  ASSERT_EQ(ds.splits.at("val").size(), 2u);
  EXPECT_EQ(ds.splits.at("val")[1].image.filename(), "d.png");
  // nc alone gives generic names.
  text("cfg/nc.yaml", "path: ..\ntrain: images/train\nval: images/val\nnc: 2\n");
  EXPECT_EQ(fracture::load_yolo(dir_ / "cfg/nc.yaml", true, *log_, nullptr).names,
            (std::vector<std::string>{"class0", "class1"}));
  // A listed image that does not exist: file:line of the list.
  text("lists/bad.txt", "../images/val/c.png\n../images/val/gone.png\n");
  text("cfg/bad.yaml", "path: ..\ntrain: images/train\nval: lists/bad.txt\nnames: [a, b]\n");
  expect_error([&] { fracture::load_yolo(dir_ / "cfg/bad.yaml", true, *log_, nullptr); },
               {(dir_ / "lists/bad.txt").string() + ":2:", "gone.png not found"});
  // A GIF in an image folder is reported, not silently ignored.
  text("images/val/anim.gif", "GIF89a");
  expect_error([&] { fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr); }, {"anim.gif", ".gif"});
}

TEST_F(DatasetTest, CocoImport) {
  image("imgs/a.png");
  image("imgs/b.png");
  image("imgs/c.png");
  // Category ids 7 and 3: names in id order -> {"radius", "ulna"}.
  text("ann.json", R"({
    "images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 100},
               {"id": 2, "file_name": "b.png", "width": 50, "height": 50},
               {"id": 3, "file_name": "c.png", "width": 64, "height": 64}],
    "categories": [{"id": 7, "name": "ulna"}, {"id": 3, "name": "radius"}],
    "annotations": [
      {"id": 10, "image_id": 1, "category_id": 7, "bbox": [20, 10, 40, 30], "iscrowd": 0},
      {"id": 11, "image_id": 1, "category_id": 3, "bbox": [190, 90, 20, 20]},
      {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, 10, 10], "iscrowd": 1}]})");
  fracture::DetDataset ds = fracture::load_coco(dir_ / "ann.json", dir_ / "imgs", true, *log_, nullptr);
  EXPECT_EQ(ds.names, (std::vector<std::string>{"radius", "ulna"}));
  const auto& items = ds.splits.at("train");
  ASSERT_EQ(items.size(), 3u);
  ASSERT_EQ(items[0].boxes.size(), 2u);
  EXPECT_EQ(items[0].boxes[0].cls, 1);
  EXPECT_FLOAT_EQ(items[0].boxes[0].cx, 40.0f / 200);  // (20 + 40 / 2) / 200
  EXPECT_FLOAT_EQ(items[0].boxes[0].cy, 25.0f / 100);
  EXPECT_FLOAT_EQ(items[0].boxes[0].w, 40.0f / 200);
  EXPECT_FLOAT_EQ(items[0].boxes[0].h, 30.0f / 100);
  EXPECT_FLOAT_EQ(items[0].boxes[1].cx, 195.0f / 200);  // clipped to [190, 200] x [90, 100]
  EXPECT_FLOAT_EQ(items[0].boxes[1].w, 10.0f / 200);
  EXPECT_TRUE(items[1].boxes.empty());  // crowd annotation skipped
  EXPECT_TRUE(items[2].boxes.empty());  // no annotation = background
  EXPECT_EQ(fracture::load_coco(dir_ / "ann.json", dir_ / "imgs", true, *log_, nullptr, "val").splits.count("val"), 1u);

  text("bad.json", R"({"images": [{"id": 1, "file_name": "a.png", "width": 200, "height": 100},
                                   {"id": 2, "file_name": "missing.png", "width": 9, "height": 9}],
    "categories": [{"id": 1, "name": "fracture"}],
    "annotations": [{"id": 5, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}]})");
  std::vector<Problem> problems;
  fracture::DetDataset bad = fracture::load_coco(dir_ / "bad.json", dir_ / "imgs", false, *log_, &problems);
  ASSERT_EQ(problems.size(), 3u);  // missing image, unknown category, then no usable images
  EXPECT_NE(problems[0].str().find("images[1]: image file"), std::string::npos) << problems[0].str();
  EXPECT_NE(problems[1].str().find("annotations[0] (id 5): category_id 9"), std::string::npos) << problems[1].str();
  expect_error([&] { fracture::load_coco(dir_ / "bad.json", dir_ / "imgs", true, *log_, nullptr); },
               {"bad.json", "missing.png not found"});
  text("broken.json", "{\"images\": [");
  expect_error([&] { fracture::load_coco(dir_ / "broken.json", dir_, true, *log_, nullptr); },
               {"broken.json", "not valid JSON"});
}

TEST_F(DatasetTest, ClassFolders) {
  image("cls/fractured/p1.png");
  image("cls/fractured/sub/p2.jpg");
  image("cls/normal/n1.png");
  text("cls/normal/notes.txt", "not an image");
  fracture::ClsDataset ds = fracture::load_classification(dir_ / "cls", "fractured", true, *log_, nullptr);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"normal", "fractured"}));
  ASSERT_EQ(ds.items.size(), 3u);
  EXPECT_EQ(ds.items[0].image.filename(), "n1.png");
  EXPECT_EQ(ds.items[0].label, 0);
  EXPECT_EQ(ds.items[1].label, 1);
  EXPECT_EQ(ds.items[2].image.filename(), "p2.jpg");
  EXPECT_EQ(ds.items[2].label, 1);

  expect_error([&] { fracture::load_classification(dir_ / "cls", "broken", true, *log_, nullptr); },
               {"no class folder named 'broken'", "'fractured', 'normal'"});
  image("cls/unsure/u1.png");
  expect_error([&] { fracture::load_classification(dir_ / "cls", "fractured", true, *log_, nullptr); },
               {"exactly two class folders", "found 3", "'unsure'"});

  // Split layout.
  image("sp/train/fractured/a.png");
  image("sp/train/normal/b.png");
  image("sp/val/fractured/c.png");
  image("sp/val/normal/d.png");
  fracture::ClsDataset s = fracture::load_class_folders(dir_ / "sp", "fractured", true, *log_, nullptr);
  ASSERT_EQ(s.items.size(), 4u);
  EXPECT_EQ(s.items[0].split, "train");
  EXPECT_EQ(s.items[3].split, "val");
}

TEST_F(DatasetTest, CsvManifest) {
  image("img/a, b.png");
  image("img/c.png");
  image("img/d.png");
  text("m.csv", "\xEF\xBB\xBFpath,label,patient_id,split,age\r\n\"img/a, b.png\",fractured,P1,train,30\r\n"
                "img/c.png,normal,P1,val,30\r\nimg/d.png,1,\"P \"\"2\"\"\",test,41\r\n");
  fracture::ClsDataset ds = fracture::load_classification(dir_ / "m.csv", "fractured", true, *log_, nullptr);
  ASSERT_EQ(ds.items.size(), 3u);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"normal", "fractured"}));
  EXPECT_EQ(ds.items[0].image, dir_ / "img/a, b.png");
  EXPECT_EQ(ds.items[0].label, 1);
  EXPECT_EQ(ds.items[1].label, 0);
  EXPECT_EQ(ds.items[2].label, 1);
  EXPECT_EQ(ds.items[1].patient_id, "P1");
  EXPECT_EQ(ds.items[2].patient_id, "P \"2\"");
  EXPECT_EQ(ds.items[2].split, "test");

  auto csv = [&](const std::string& s) { return text("bad.csv", s); };
  auto load = [&] { fracture::load_classification(dir_ / "bad.csv", "fractured", true, *log_, nullptr); };
  const std::string f = (dir_ / "bad.csv").string();
  csv("img/c.png,1\n");
  expect_error(load, {f + ":1:", "no 'path' column"});
  csv("path,label\nimg/c.png,1\nimg/d.png\n");
  expect_error(load, {f + ":3:", "expected 2 fields"});
  csv("path,label\nimg/c.png,2\n");
  expect_error(load, {f + ":2:", "label '2'"});
  csv("path,label\nimg/c.png,1\nimg/gone.png,0\n");
  expect_error(load, {f + ":3:", "gone.png not found"});
  csv("path,label\nimg/c.png,normal\nimg/d.png,unsure\n");
  expect_error(load, {f + ":3:", "third class name 'unsure'"});
  csv("path,label,split\nimg/c.png,1,training\n");
  expect_error(load, {f + ":2:", "split 'training'"});
  csv("path,label\nimg/c.png,1\nimg/c.png,0\n");
  expect_error(load, {f + ":3:", "listed twice (first at line 2)"});
  csv("path,label\n\"img/c.png,1\n");
  expect_error(load, {f + ":2:", "unterminated"});
  // Non-strict: the bad rows are skipped and counted.
  csv("path,label\nimg/c.png,1\nimg/gone.png,0\nimg/d.png,0\n");
  std::vector<Problem> problems;
  fracture::ClsDataset part = fracture::load_classification(dir_ / "bad.csv", "fractured", false, *log_, &problems);
  EXPECT_EQ(part.items.size(), 2u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 3);
}

TEST_F(DatasetTest, ClsFromDetection) {
  fracture::DetDataset det;
  det.source = "seven.yaml";
  det.names = {"elbow positive", "fingers positive", "forearm fracture", "humerus fracture", "humerus",
               "shoulder fracture", "wrist positive"};
  auto item = [](std::vector<int> classes) {
    fracture::DetItem d;
    for (int c : classes) d.boxes.push_back({c, 0.5f, 0.5f, 0.1f, 0.1f});
    return d;
  };
  det.splits["train"] = {item({}), item({4}), item({2}), item({4, 6}), item({0})};
  auto labels = [](const fracture::ClsDataset& c) {
    std::vector<int> v;
    for (const auto& it : c.items) v.push_back(it.label);
    return v;
  };
  // Default: names containing "fracture" or "positive" (everything but "humerus").
  EXPECT_EQ(labels(fracture::cls_from_detection(det, "train", {})), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_EQ(labels(fracture::cls_from_detection(det, "train", {"forearm fracture"})), (std::vector<int>{0, 0, 1, 0, 0}));
  EXPECT_EQ(labels(fracture::cls_from_detection(det, "train", {"humerus", "wrist positive"})),
            (std::vector<int>{0, 1, 0, 1, 0}));
  expect_error([&] { fracture::cls_from_detection(det, "train", {"radius fracture"}); },
               {"fracture_classes", "'radius fracture'", "'forearm fracture'", "'wrist positive'"});
  expect_error([&] { fracture::cls_from_detection(det, "test", {}); }, {"no split 'test'", "'train'"});
  det.names = {"bone", "joint"};
  expect_error([&] { fracture::cls_from_detection(det, "train", {}); }, {"fracture_classes", "'bone', 'joint'"});
}

TEST_F(DatasetTest, YamlControlCharactersAreRefusedAsPyYamlDoes) {
  // yaml-cpp dropped the NUL of `val: [<NUL>/]` and listed the whole machine (`/`); PyYAML, which
  // Ultralytics reads data.yaml with, refuses the file ("unacceptable character #x0000"). So do we,
  // naming line and column, for the C0 controls but tab/LF/CR, DEL and the C1 controls but NEL.
  make_yolo();
  const std::pair<std::string, std::string> bad[] = {
      {"path: .\ntrain: images/train\nval: [" + std::string(1, '\0') + "/]\n", ":3:7: control character U+0000"},
      {"path: .\ntrain: images/train\nval: images/val\x7F\n", ":3:16: control character U+007F"},
      {"path: .\ntrain: images/train\nval: images/val\nnames: [a\x1B[0m]\n", ":4:10: control character U+001B"},
      {"path: .\ntrain: images/train\nval: images/val\nnames: [a\xC2\x9B]\n", ":4:10: control character U+009B"},
  };
  for (const auto& [yaml, what] : bad) {
    text("data.yaml", yaml);
    expect_error([&] { fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr); }, {"data.yaml" + what, "YAML"});
  }
  // tab, CR, NEL and other non-ASCII text stay allowed
  text("data.yaml", "path: .\r\ntrain: images/train\t# tab\nval: images/val\nnames: [\"fracture\xC2\x85\", caf\xC3\xA9]\n");
  EXPECT_EQ(fracture::load_yolo(dir_ / "data.yaml", true, *log_, nullptr).names.size(), 2u);
  // a cfg= file goes through the same check
  const fs::path cfg = text("cfg.yaml", "epochs: 3\nname: a" + std::string(1, '\0') + "b\n");
  fracture::Config c = fracture::Config::defaults();
  expect_error([&] { c.merge_file(cfg.string()); }, {"cfg.yaml:2:8: control character U+0000"});
}

// Which characters YAML text may hold, against Debian's python3-yaml (PyYAML 6, whose reader refuses
// what YAML 1.2 section 5.1 does not allow): every code point U+0000..U+0100 and the edges of the
// allowed ranges, each inside a flow-list item. A ReaderError ("unacceptable character") must be
// our refusal too, at the same place; any other outcome (loaded, or another YAML error such as an
// unclosed bracket) must pass our character check.
TEST(YamlCharacters, RefusedExactlyWherePyYamlRefuses) {
  std::vector<uint32_t> cps;
  for (uint32_t cp = 0; cp <= 0x100; ++cp) cps.push_back(cp);
  for (uint32_t cp : {0xD7FFu, 0xE000u, 0xFEFFu, 0xFFFDu, 0xFFFEu, 0xFFFFu, 0x10000u, 0x10FFFFu}) cps.push_back(cp);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else if (cp < 0x800) s += {char(0xC0 | cp >> 6), char(0x80 | (cp & 63))};
    else if (cp < 0x10000) s += {char(0xE0 | cp >> 12), char(0x80 | ((cp >> 6) & 63)), char(0x80 | (cp & 63))};
    else s += {char(0xF0 | cp >> 18), char(0x80 | ((cp >> 12) & 63)), char(0x80 | ((cp >> 6) & 63)), char(0x80 | (cp & 63))};
    return s;
  };
  auto doc = [&](uint32_t cp) { return "names: [a" + utf8(cp) + "b]\n"; };
  std::string cmd = std::string(FRACTURE_PYTHON) +
                    " -c \"import sys, json, yaml\n"
                    "def pos(b):\n"
                    "  try: yaml.safe_load(bytes.fromhex(b))\n"
                    "  except yaml.reader.ReaderError as e: return e.position\n"
                    "  except yaml.YAMLError: pass\n"
                    "  return -1\n"
                    "print(json.dumps([pos(b) for b in sys.argv[1:]]))\"";
  static const char* hex = "0123456789abcdef";
  for (uint32_t cp : cps) {
    cmd += ' ';
    for (unsigned char c : doc(cp)) cmd += {hex[c >> 4], hex[c & 15]};
  }
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(pclose(p), 0) << "PyYAML oracle failed (python3-yaml installed?)";
  const auto ref = nlohmann::json::parse(out);
  ASSERT_EQ(ref.size(), cps.size());
  int refused = 0;
  for (size_t k = 0; k < cps.size(); ++k) {
    const int at = ref[k].get<int>();
    std::string ours;
    try {
      fracture::check_yaml_characters(doc(cps[k]), "x.yaml");
    } catch (const fracture::Error& e) {
      ours = e.what();
    }
    if (at < 0) {
      EXPECT_EQ(ours, "") << "U+" << std::hex << cps[k] << ": PyYAML accepts it";
    } else {
      ++refused;
      EXPECT_EQ(at, 9) << "U+" << std::hex << cps[k];  // "names: [a" is 9 characters
      EXPECT_NE(ours.find("x.yaml:1:10: "), std::string::npos) << "U+" << std::hex << cps[k] << ": " << ours;
    }
  }
  EXPECT_EQ(refused, 32 - 3 + 1 + 32 - 1 + 2);  // C0 but tab/LF/CR, DEL, C1 but NEL, U+FFFE/U+FFFF
}
