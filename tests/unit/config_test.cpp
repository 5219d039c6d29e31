#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/core/rundir.h"

namespace fs = std::filesystem;
using fracture::Config;

TEST(Config, DefaultsParseAndPinCommonKeys) {
  Config c = Config::defaults();
  for (const char* k : {"data", "model", "weights", "epochs", "imgsz", "batch", "patience", "seed", "device",
                        "workers", "project", "name", "strict"})
    EXPECT_TRUE(c.has(k)) << k;
  EXPECT_EQ(c.integer("epochs"), 100);
  EXPECT_EQ(c.integer("seed"), 0);
  EXPECT_EQ(c.str("device"), "cpu");
  EXPECT_EQ(c.str("project"), "runs");
  EXPECT_TRUE(c.is_null("data"));
  EXPECT_TRUE(c.boolean("strict"));
  for (const auto& k : c.keys()) {
    EXPECT_FALSE(k.help.empty()) << k.name << " has no meaning documented";
    EXPECT_FALSE(k.type.empty()) << k.name;
  }
}

TEST(Config, TypeChecksValues) {
  Config c = Config::defaults();
  c.set("epochs", "7", "command line");
  EXPECT_EQ(c.integer("epochs"), 7);
  try {
    c.set("epochs", "seven", "command line");
    FAIL() << "expected an error";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expects an integer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("epochs"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.set("strict", "maybe", "cli"), fracture::Error);
  c.set("strict", "False", "cli");
  EXPECT_FALSE(c.boolean("strict"));
  c.set("fracture_classes", "[elbow positive, wrist positive]", "cli");
  EXPECT_EQ(c.list("fracture_classes"), (std::vector<std::string>{"elbow positive", "wrist positive"}));
  c.set("fracture_classes", "a,b", "cli");
  EXPECT_EQ(c.list("fracture_classes"), (std::vector<std::string>{"a", "b"}));
}

TEST(Config, UnknownKeySuggestsNearest) {
  Config c = Config::defaults();
  try {
    c.set("epoch", "3", "command line");
    FAIL() << "expected an error";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'epochs'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fracture::did_you_mean("imgsize", {"imgsz", "batch"}), "imgsz");
  EXPECT_EQ(fracture::did_you_mean("zzzzzzzz", {"imgsz", "batch"}), "");
}

TEST(Config, YamlRoundTripAndMergeFile) {
  Config c = Config::defaults();
  c.set("name", "exp", "cli");
  c.set("epochs", "3", "cli");
  fs::path dir = fs::temp_directory_path() / "fracture_config_test";
  fs::remove_all(dir);
  fracture::write_file_atomic(dir / "args.yaml", c.to_yaml());
  Config d = Config::defaults();
  d.merge_file((dir / "args.yaml").string());
  EXPECT_EQ(d.to_yaml(), c.to_yaml());
  fracture::write_file_atomic(dir / "bad.yaml", "epochs: 3\nbatchh: 4\n");
  try {
    d.merge_file((dir / "bad.yaml").string());
    FAIL();
  } catch (const fracture::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.yaml:2"), std::string::npos) << m;
    EXPECT_NE(m.find("did you mean 'batch'"), std::string::npos) << m;
  }
}

TEST(RunDir, NumbersInsteadOfOverwriting) {
  fs::path p = fs::temp_directory_path() / "fracture_rundir_test";
  fs::remove_all(p);
  EXPECT_EQ(fracture::make_run_dir(p, "detect", "train").filename(), "train");
  EXPECT_EQ(fracture::make_run_dir(p, "detect", "train").filename(), "train2");
  EXPECT_EQ(fracture::make_run_dir(p, "detect", "train").filename(), "train3");
}

TEST(Fs, AtomicWriteLeavesNoTempFiles) {
  fs::path dir = fs::temp_directory_path() / "fracture_fs_test";
  fs::remove_all(dir);
  fracture::write_file_atomic(dir / "a.txt", "hello");
  fracture::write_file_atomic(dir / "a.txt", "world");
  EXPECT_EQ(fracture::read_file(dir / "a.txt"), "world");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++n;
  EXPECT_EQ(n, 1);
  EXPECT_THROW(fracture::read_file(dir / "missing.txt"), fracture::Error);
  EXPECT_NE(fracture::hash_bytes("a"), fracture::hash_bytes("b"));
}
