// Augmentations: hand-checkable geometry (flip, letterbox, 90-degree rotation, box dropping),
// mosaic bounds and provenance, intensity jitter, CLAHE, determinism for a seed.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "fracture/data/augment.h"
#include "fracture/core/error.h"

using fracture::AugmentOptions;
using fracture::Box;

namespace {

Box box(int cls, float cx, float cy, float w, float h) {
  Box b;
  b.cls = cls, b.cx = cx, b.cy = cy, b.w = w, b.h = h;
  return b;
}

// A float image with a bright rectangle at pixel rows [y0, y1), columns [x0, x1).
cv::Mat rect_image(int w, int h, int x0, int y0, int x1, int y1) {
  cv::Mat m(h, w, CV_32FC1, cv::Scalar(0));
  m(cv::Rect(x0, y0, x1 - x0, y1 - y0)).setTo(1.0);
  return m;
}

AugmentOptions no_aug() {
  AugmentOptions o;
  o.degrees = 0, o.translate = 0, o.scale = 0, o.fliplr = 0, o.flipud = 0, o.hsv_v = 0, o.mosaic = 0;
  return o;
}

}  // namespace

TEST(Augment, HflipMapsCxToOneMinusCx) {
  cv::Mat img = rect_image(64, 32, 0, 0, 16, 32);  // bright left quarter
  std::vector<Box> b = {box(0, 0.125f, 0.5f, 0.25f, 1.0f), box(1, 0.7f, 0.2f, 0.1f, 0.2f)};
  fracture::hflip(img, b);
  EXPECT_FLOAT_EQ(b[0].cx, 0.875f);
  EXPECT_FLOAT_EQ(b[1].cx, 0.3f);
  EXPECT_FLOAT_EQ(b[1].cy, 0.2f);
  EXPECT_FLOAT_EQ(img.at<float>(10, 63), 1.0f);  // bright part is now on the right
  EXPECT_FLOAT_EQ(img.at<float>(10, 0), 0.0f);
}

TEST(Augment, VflipMapsCyToOneMinusCy) {
  cv::Mat img = rect_image(32, 64, 0, 0, 32, 8);
  std::vector<Box> b = {box(0, 0.5f, 0.0625f, 1.0f, 0.125f)};
  fracture::vflip(img, b);
  EXPECT_FLOAT_EQ(b[0].cy, 0.9375f);
  EXPECT_FLOAT_EQ(b[0].cx, 0.5f);
  EXPECT_FLOAT_EQ(img.at<float>(63, 5), 1.0f);
  EXPECT_FLOAT_EQ(img.at<float>(0, 5), 0.0f);
}

TEST(Augment, LetterboxWideImage) {
  cv::Mat img(100, 200, CV_8UC1, cv::Scalar(200));  // 200 wide, 100 high
  fracture::LetterboxInfo lb;
  cv::Mat out = fracture::letterbox(img, 64, 7, &lb);
  EXPECT_EQ(out.rows, 64);
  EXPECT_EQ(out.cols, 64);
  EXPECT_EQ(out.type(), CV_8UC1);
  EXPECT_FLOAT_EQ(lb.scale, 0.32f);
  EXPECT_EQ(lb.new_w, 64);
  EXPECT_EQ(lb.new_h, 32);
  EXPECT_EQ(lb.pad_x, 0);
  EXPECT_EQ(lb.pad_y, 16);
  EXPECT_EQ(out.at<uint8_t>(15, 30), 7);    // top padding
  EXPECT_EQ(out.at<uint8_t>(16, 30), 200);  // image
  EXPECT_EQ(out.at<uint8_t>(47, 30), 200);
  EXPECT_EQ(out.at<uint8_t>(48, 30), 7);    // bottom padding

  // A centred box half the image wide and high: same centre, half as high in the square.
  auto b = fracture::letterbox_boxes({box(2, 0.5f, 0.5f, 0.5f, 0.5f)}, lb);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].cls, 2);
  EXPECT_FLOAT_EQ(b[0].cx, 0.5f);
  EXPECT_FLOAT_EQ(b[0].cy, 0.5f);
  EXPECT_FLOAT_EQ(b[0].w, 0.5f);
  EXPECT_FLOAT_EQ(b[0].h, 0.25f);
  // Back to the original pixels: the square's centre is the image's centre, the top of the
  // image content is y = 0.
  cv::Point2f p = fracture::letterbox_to_original(lb, {32, 32});
  EXPECT_FLOAT_EQ(p.x, 100);
  EXPECT_FLOAT_EQ(p.y, 50);
  EXPECT_FLOAT_EQ(fracture::letterbox_to_original(lb, {0, 16}).y, 0);
}

TEST(Augment, ResizeAndPadFollowUltralytics) {
  // load_image: 1000 x 333 at 640 -> r 0.64, h = min(ceil(213.12), 640) = 214 (round would give 213).
  cv::Mat img(333, 1000, CV_32FC1, cv::Scalar(0.5));
  cv::Mat r = fracture::resize_long_side(img, 640);
  EXPECT_EQ(r.cols, 640);
  EXPECT_EQ(r.rows, 214);
  // LetterBox(center) into a 672 x 256 batch shape: left round(16 - 0.1) = 16, top round(21 - 0.1) = 21.
  fracture::LetterboxInfo lb;
  cv::Mat out = fracture::pad_centred(r, 672, 256, 0.25, &lb);
  EXPECT_EQ(out.cols, 672);
  EXPECT_EQ(out.rows, 256);
  EXPECT_EQ(lb.pad_x, 16);
  EXPECT_EQ(lb.pad_y, 21);
  EXPECT_EQ(lb.dst_w, 672);
  EXPECT_EQ(lb.dst_h, 256);
  EXPECT_FLOAT_EQ(out.at<float>(20, 100), 0.25f);
  EXPECT_FLOAT_EQ(out.at<float>(21, 100), 0.5f);
  EXPECT_FLOAT_EQ(out.at<float>(21 + 214, 100), 0.25f);
  // An odd margin: 641 - 640 = 1 -> left round(0.5 - 0.1) = 0, right 1.
  fracture::pad_centred(r, 641, 214, 0, &lb);
  EXPECT_EQ(lb.pad_x, 0);
  // Shrinking interpolation is the caller's: INTER_AREA (validation) and INTER_LINEAR (training) differ.
  cv::Mat stripes(100, 100, CV_32FC1);
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 100; ++x) stripes.at<float>(y, x) = float(x % 2);
  cv::Mat area = fracture::resize_long_side(stripes, 30), lin = fracture::resize_long_side(stripes, 30, cv::INTER_LINEAR);
  EXPECT_GT(cv::norm(area, lin, cv::NORM_INF), 0.05);
  EXPECT_THROW(fracture::pad_centred(r, 600, 256, 0, &lb), fracture::Error);
}

TEST(Augment, PredictLetterboxPadsToTheStrideOnly) {
  // 1000 x 333 at 640: r 0.64 -> 640 x round(213.12) = 213, padded to 213 + (640 - 213) % 32 = 224.
  fracture::LetterboxInfo lb;
  cv::Mat out = fracture::letterbox_min(cv::Mat(333, 1000, CV_32FC1, cv::Scalar(0.5)), 640, 32, 0.25, &lb);
  EXPECT_EQ(out.cols, 640);
  EXPECT_EQ(out.rows, 224);
  EXPECT_EQ(lb.new_h, 213);
  EXPECT_EQ(lb.pad_y, 5);  // round(5.5 - 0.1)
  EXPECT_FLOAT_EQ(lb.scale, 0.64f);
  // Python's round is half to even: 128 x 33 at 64 -> r 0.5, h round(16.5) = 16 (not 17), padded to 32.
  out = fracture::letterbox_min(cv::Mat(33, 128, CV_32FC1, cv::Scalar(0.5)), 64, 32, 0.25, &lb);
  EXPECT_EQ(lb.new_h, 16);
  EXPECT_EQ(out.rows, 32);
  EXPECT_EQ(lb.pad_y, 8);
  // Small images are enlarged (scaleup): 20 x 10 at 64 -> 64 x 32, no padding.
  out = fracture::letterbox_min(cv::Mat(10, 20, CV_32FC1, cv::Scalar(0.5)), 64, 32, 0.25, &lb);
  EXPECT_EQ(out.size(), cv::Size(64, 32));
  EXPECT_EQ(lb.pad_x + lb.pad_y, 0);
}

TEST(Augment, LetterboxTallImagePadsLeftRight) {
  cv::Mat img(128, 32, CV_32FC1, cv::Scalar(1.0));
  fracture::LetterboxInfo lb;
  cv::Mat out = fracture::letterbox(img, 64, 0.5, &lb);
  EXPECT_EQ(lb.new_w, 16);
  EXPECT_EQ(lb.new_h, 64);
  EXPECT_EQ(lb.pad_x, 24);
  EXPECT_EQ(lb.pad_y, 0);
  EXPECT_FLOAT_EQ(out.at<float>(10, 23), 0.5f);
  EXPECT_FLOAT_EQ(out.at<float>(10, 24), 1.0f);
  EXPECT_FLOAT_EQ(out.at<float>(10, 39), 1.0f);
  EXPECT_FLOAT_EQ(out.at<float>(10, 40), 0.5f);
}

TEST(Augment, Rotate90MovesKnownBox) {
  // Rectangle at x in [8, 24), y in [28, 36) of a 64x64 image: left of centre.
  cv::Mat img = rect_image(64, 64, 8, 28, 24, 36);
  std::vector<Box> b = {box(3, 16 / 64.f, 32 / 64.f, 16 / 64.f, 8 / 64.f)};
  cv::Mat M = fracture::affine_matrix(64, 64, 90, 1.0, 32, 32);
  cv::Mat out = fracture::warp_affine_boxes(img, b, M, 64, 64, 0.0);
  // Counter-clockwise on screen (y down): the left of the image goes to the bottom.
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].cls, 3);
  EXPECT_NEAR(b[0].cx, 0.5, 1e-5);
  EXPECT_NEAR(b[0].cy, 0.75, 1e-5);
  EXPECT_NEAR(b[0].w, 8 / 64.0, 1e-5);
  EXPECT_NEAR(b[0].h, 16 / 64.0, 1e-5);
  // The pixels moved the same way: now x in [28, 36), y in [40, 56).
  EXPECT_NEAR(out.at<float>(48, 32), 1.0, 1e-4);
  EXPECT_NEAR(out.at<float>(41, 29), 1.0, 1e-4);
  EXPECT_NEAR(out.at<float>(54, 34), 1.0, 1e-4);
  EXPECT_NEAR(out.at<float>(32, 16), 0.0, 1e-4);  // old place is dark
  EXPECT_NEAR(out.at<float>(48, 26), 0.0, 1e-4);
  EXPECT_NEAR(cv::sum(out)[0], 16 * 8, 1e-2);      // exact 90-degree turn keeps every pixel
}

TEST(Augment, WarpClipsAndDropsBoxes) {
  cv::Mat img(64, 64, CV_32FC1, cv::Scalar(0.5));
  // Shift right by 40 px: box A (x 8..24) -> 48..64 stays; box B (x 40..56) -> 80..96 leaves;
  // box C (x 12..32) -> 52..72 keeps 12 of 20 px (60%), clipped at 64.
  std::vector<Box> b = {box(0, 16 / 64.f, 0.5f, 16 / 64.f, 0.25f), box(1, 48 / 64.f, 0.5f, 16 / 64.f, 0.25f),
                        box(2, 22 / 64.f, 0.25f, 20 / 64.f, 0.25f)};
  cv::Mat M = fracture::affine_matrix(64, 64, 0, 1.0, 32 + 40, 32);
  fracture::warp_affine_boxes(img, b, M, 64, 64, 0.0);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].cls, 0);
  EXPECT_NEAR(b[0].cx, 56 / 64.0, 1e-5);
  EXPECT_EQ(b[1].cls, 2);
  EXPECT_NEAR(b[1].cx, 58 / 64.0, 1e-5);
  EXPECT_NEAR(b[1].w, 12 / 64.0, 1e-5);

  // A box that keeps only 5% of its area is dropped; one 1.5 px wide is dropped.
  std::vector<Box> c = {box(0, 0.5f, 0.5f, 40 / 64.f, 0.5f), box(1, 0.2f, 0.2f, 1.5f / 64, 0.2f)};
  cv::Mat M2 = fracture::affine_matrix(64, 64, 0, 1.0, 32 + 50, 32);  // box x 12..52 -> 62..102
  fracture::warp_affine_boxes(img, c, M2, 64, 64, 0.0);
  EXPECT_TRUE(c.empty());
}

TEST(Augment, RandomAffineWithZeroRangesIsIdentity) {
  cv::Mat img = rect_image(48, 48, 5, 7, 20, 30);
  std::vector<Box> b = {box(0, 12.5f / 48, 18.5f / 48, 15 / 48.f, 23 / 48.f)};
  std::mt19937_64 rng(1);
  cv::Mat out = fracture::random_affine(img, b, no_aug(), rng, 48, 48);
  EXPECT_LT(cv::norm(out, img, cv::NORM_INF), 1e-5);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_NEAR(b[0].cx, 12.5 / 48, 1e-6);
  EXPECT_NEAR(b[0].h, 23 / 48.0, 1e-6);
}

TEST(Augment, RandomAffineRejectsBadOptions) {
  cv::Mat img(16, 16, CV_32FC1, cv::Scalar(0));
  std::vector<Box> b;
  std::mt19937_64 rng(1);
  AugmentOptions o;
  o.scale = 1.5f;
  try {
    fracture::random_affine(img, b, o, rng, 16, 16);
    FAIL() << "expected fracture::Error";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'scale'"), std::string::npos) << e.what();
  }
}

TEST(Augment, MosaicKeepsBoxesInsideAndOnTheirImage) {
  const int s = 32;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::array<cv::Mat, 4> imgs;
    std::array<std::vector<Box>, 4> boxes;
    for (int k = 0; k < 4; ++k) {
      int w = k % 2 ? s : s * 3 / 4, h = k < 2 ? s : s / 2;  // mixed sizes, long side <= s
      imgs[k] = cv::Mat(h, w, CV_32FC1, cv::Scalar(0.2 * (k + 1)));
      // Boxes near every edge and one in the middle; class = image index.
      boxes[k] = {box(k, 0.1f, 0.1f, 0.2f, 0.2f), box(k, 0.9f, 0.9f, 0.2f, 0.2f), box(k, 0.5f, 0.5f, 0.3f, 0.3f),
                  box(k, 0.05f, 0.95f, 0.1f, 0.1f)};
    }
    std::mt19937_64 rng(seed);
    std::vector<Box> out;
    cv::Mat canvas = fracture::mosaic4(imgs, boxes, s, 0.0, rng, out);
    ASSERT_EQ(canvas.rows, 2 * s);
    ASSERT_EQ(canvas.cols, 2 * s);
    ASSERT_FALSE(out.empty());
    for (const Box& b : out) {
      EXPECT_GE(b.cx - b.w / 2, -1e-6);
      EXPECT_LE(b.cx + b.w / 2, 1 + 1e-6);
      EXPECT_GE(b.cy - b.h / 2, -1e-6);
      EXPECT_LE(b.cy + b.h / 2, 1 + 1e-6);
      EXPECT_GE(b.w * 2 * s, 2 - 1e-4);
      EXPECT_GE(b.h * 2 * s, 2 - 1e-4);
      // The box centre lies on the pixels of the image it came from.
      int x = int(b.cx * 2 * s), y = int(b.cy * 2 * s);
      EXPECT_NEAR(canvas.at<float>(y, x), 0.2 * (b.cls + 1), 1e-6) << "seed " << seed;
    }
    // Back to imgsz: boxes stay inside the output.
    AugmentOptions o;
    o.degrees = 10;
    cv::Mat small = fracture::random_affine(canvas, out, o, rng, s, s);
    ASSERT_EQ(small.rows, s);
    for (const Box& b : out) {
      EXPECT_GE(b.cx - b.w / 2, -1e-6);
      EXPECT_LE(b.cx + b.w / 2, 1 + 1e-6);
      EXPECT_GE(b.cy - b.h / 2, -1e-6);
      EXPECT_LE(b.cy + b.h / 2, 1 + 1e-6);
    }
  }
}

TEST(Augment, SameSeedSameResultDifferentSeedDifferent) {
  auto run = [](uint64_t seed, std::vector<Box>& b) {
    cv::Mat img(40, 56, CV_32FC1);
    for (int y = 0; y < img.rows; ++y)
      for (int x = 0; x < img.cols; ++x) img.at<float>(y, x) = float((x * 37 + y * 101) % 97) / 96.0f;
    b = {box(0, 0.4f, 0.5f, 0.3f, 0.4f), box(1, 0.7f, 0.3f, 0.2f, 0.2f)};
    AugmentOptions o;
    o.degrees = 15, o.flipud = 0.5f, o.contrast = 0.3f, o.gamma = 0.3f;
    std::mt19937_64 rng(seed);
    fracture::LetterboxInfo lb;
    cv::Mat x = fracture::letterbox(img, 48, o.pad_value, &lb);
    b = fracture::letterbox_boxes(b, lb);
    x = fracture::random_affine(x, b, o, rng, 48, 48);
    fracture::random_flips(x, b, o, rng);
    fracture::random_intensity(x, o, rng);
    return x;
  };
  std::vector<Box> b1, b2, b3;
  cv::Mat x1 = run(7, b1), x2 = run(7, b2), x3 = run(8, b3);
  EXPECT_EQ(cv::norm(x1, x2, cv::NORM_INF), 0.0);
  ASSERT_EQ(b1.size(), b2.size());
  for (size_t i = 0; i < b1.size(); ++i) {
    EXPECT_EQ(b1[i].cx, b2[i].cx);
    EXPECT_EQ(b1[i].h, b2[i].h);
  }
  EXPECT_GT(cv::norm(x1, x3, cv::NORM_INF), 1e-3);
}

TEST(Augment, IntensityJitter) {
  cv::Mat img(16, 16, CV_32FC1);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) img.at<float>(y, x) = 0.02f * float(y + x) / 2 + 0.1f;  // 0.1..0.4

  // All ranges 0: no change and no random draw.
  AugmentOptions off = no_aug();
  std::mt19937_64 rng(3), fresh(3);
  cv::Mat a = img.clone();
  fracture::random_intensity(a, off, rng);
  EXPECT_EQ(cv::norm(a, img, cv::NORM_INF), 0.0);
  EXPECT_EQ(rng(), fresh());

  // Brightness only: one gain for the whole image, within [1 - hsv_v, 1 + hsv_v].
  AugmentOptions v = no_aug();
  v.hsv_v = 0.5f;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 r(seed);
    cv::Mat b = img.clone();
    fracture::random_intensity(b, v, r);
    double g = b.at<float>(0, 0) / img.at<float>(0, 0);
    EXPECT_GE(g, 0.5 - 1e-6);
    EXPECT_LE(g, 1.5 + 1e-6);
    EXPECT_NEAR(b.at<float>(15, 15), std::min(1.0, g * img.at<float>(15, 15)), 1e-5);
    EXPECT_NEAR(b.at<float>(3, 9), std::min(1.0, g * img.at<float>(3, 9)), 1e-5);
  }

  // Contrast and gamma keep values in [0, 1] and the order of grey levels.
  AugmentOptions cg = no_aug();
  cg.contrast = 0.9f, cg.gamma = 1.0f, cg.hsv_v = 0.9f;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 r(seed);
    cv::Mat b = img.clone();
    fracture::random_intensity(b, cg, r);
    double lo, hi;
    cv::minMaxLoc(b, &lo, &hi);
    EXPECT_GE(lo, 0.0);
    EXPECT_LE(hi, 1.0);
    EXPECT_LE(b.at<float>(0, 0), b.at<float>(15, 15));
  }
}

TEST(Augment, ClaheRaisesLocalContrast) {
  cv::Mat img(64, 64, CV_32FC1);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) img.at<float>(y, x) = 0.45f + 0.1f * float((x * 7 + y * 3) % 16) / 16;
  cv::Mat out = fracture::clahe(img, 3.0, 4);
  ASSERT_EQ(out.size(), img.size());
  ASSERT_EQ(out.type(), CV_32FC1);
  cv::Scalar m0, s0, m1, s1;
  cv::meanStdDev(img, m0, s0);
  cv::meanStdDev(out, m1, s1);
  EXPECT_GT(s1[0], 2 * s0[0]);
  double lo, hi;
  cv::minMaxLoc(out, &lo, &hi);
  EXPECT_GE(lo, 0.0);
  EXPECT_LE(hi, 1.0);
  cv::Mat u8(8, 8, CV_8UC1, cv::Scalar(3));
  EXPECT_THROW(fracture::clahe(u8, 2.0), fracture::Error);
}

TEST(Augment, OptionsFromConfigDefaultsAndRangeChecks) {
  fracture::Config cfg = fracture::Config::defaults();
  AugmentOptions o = fracture::augment_options(cfg);
  EXPECT_FLOAT_EQ(o.translate, 0.1f);  // Ultralytics defaults
  EXPECT_FLOAT_EQ(o.scale, 0.5f);
  EXPECT_FLOAT_EQ(o.fliplr, 0.5f);
  EXPECT_FLOAT_EQ(o.hsv_v, 0.4f);
  EXPECT_FLOAT_EQ(o.mosaic, 1.0f);
  EXPECT_FLOAT_EQ(o.degrees, 0.0f);
  AugmentOptions c = fracture::augment_options(cfg, fracture::AugmentTask::kClassify);
  EXPECT_FLOAT_EQ(c.translate, 0.05f);  // classification: milder geometry and brightness
  EXPECT_FLOAT_EQ(c.scale, 0.1f);
  EXPECT_FLOAT_EQ(c.hsv_v, 0.2f);
  cfg.set("scale", "0.3", "test");  // an explicit value wins for either task
  EXPECT_FLOAT_EQ(fracture::augment_options(cfg, fracture::AugmentTask::kClassify).scale, 0.3f);
  EXPECT_FLOAT_EQ(fracture::augment_options(cfg).scale, 0.3f);
  cfg.set("fliplr", "1.5", "test");
  try {
    fracture::augment_options(cfg);
    FAIL() << "expected fracture::Error";
  } catch (const fracture::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fliplr'"), std::string::npos) << e.what();
  }
}
