#include "fracture/data/augment.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "fracture/core/error.h"

namespace fracture {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Pixel xyxy box with its class, used inside the geometry code.
struct PixBox {
  int cls;
  double x1, y1, x2, y2;
};

PixBox to_pixels(const Box& b, int w, int h) {
  return {b.cls, (b.cx - b.w / 2) * w, (b.cy - b.h / 2) * h, (b.cx + b.w / 2) * w, (b.cy + b.h / 2) * h};
}

Box to_normalised(const PixBox& p, int w, int h) {
  Box b;
  b.cls = p.cls;
  b.cx = float((p.x1 + p.x2) / 2 / w);
  b.cy = float((p.y1 + p.y2) / 2 / h);
  b.w = float((p.x2 - p.x1) / w);
  b.h = float((p.y2 - p.y1) / h);
  return b;
}

void check_grey(const cv::Mat& img, const char* what) {
  FRACTURE_CHECK(!img.empty(), what, ": empty image");
  FRACTURE_CHECK(img.channels() == 1, what, ": expected a single-channel (grey) image, got ",
                 img.channels(), " channels");
}

void check_float01(const cv::Mat& img, const char* what) {
  check_grey(img, what);
  FRACTURE_CHECK(img.type() == CV_32FC1, what, ": expected a CV_32FC1 image in [0, 1], got type ",
                 img.type());
}

}  // namespace

double uniform(std::mt19937_64& rng, double a, double b) {
  double u = double(rng() >> 11) * (1.0 / 9007199254740992.0);  // [0, 1), 53 bits
  return a + (b - a) * u;
}

AugmentOptions augment_options(const Config& cfg, AugmentTask task) {
  AugmentOptions o;
  const bool cls = task == AugmentTask::kClassify;
  auto real_or = [&](const char* key, double task_default) {
    return float(cfg.is_null(key) ? task_default : cfg.real(key));
  };
  o.degrees = float(cfg.real("degrees"));
  o.translate = real_or("translate", cls ? 0.05 : 0.1);
  o.scale = real_or("scale", cls ? 0.1 : 0.5);
  o.fliplr = float(cfg.real("fliplr"));
  o.flipud = float(cfg.real("flipud"));
  o.mosaic = float(cfg.real("mosaic"));
  o.hsv_v = real_or("hsv_v", cls ? 0.2 : 0.4);
  o.contrast = float(cfg.real("aug_contrast"));
  o.gamma = float(cfg.real("aug_gamma"));
  FRACTURE_CHECK(o.degrees >= 0, "config key 'degrees' must be >= 0, got ", o.degrees);
  FRACTURE_CHECK(o.translate >= 0 && o.translate <= 0.5, "config key 'translate' must be in [0, 0.5], got ",
                 o.translate);
  FRACTURE_CHECK(o.scale >= 0 && o.scale < 1, "config key 'scale' must be in [0, 1), got ", o.scale);
  const char* probs[] = {"fliplr", "flipud", "mosaic"};
  for (const char* k : probs)
    FRACTURE_CHECK(cfg.real(k) >= 0 && cfg.real(k) <= 1, "config key '", k, "' must be a probability in [0, 1], got ",
                   cfg.real(k));
  FRACTURE_CHECK(o.hsv_v >= 0 && o.hsv_v < 1, "config key 'hsv_v' must be in [0, 1), got ", o.hsv_v);
  FRACTURE_CHECK(o.contrast >= 0 && o.contrast < 1, "config key 'aug_contrast' must be in [0, 1), got ", o.contrast);
  FRACTURE_CHECK(o.gamma >= 0, "config key 'aug_gamma' must be >= 0, got ", o.gamma);
  return o;
}

cv::Mat resize_long_side(const cv::Mat& img, int imgsz, int shrink) {
  check_grey(img, "resize_long_side");
  FRACTURE_CHECK(imgsz > 0, "resize_long_side: imgsz must be positive, got ", imgsz);
  int w = img.cols, h = img.rows;
  double r = double(imgsz) / std::max(w, h);
  if (r == 1.0) return img.clone();
  int nw = std::max(1, std::min(int(std::ceil(w * r)), imgsz));
  int nh = std::max(1, std::min(int(std::ceil(h * r)), imgsz));
  cv::Mat out;
  cv::resize(img, out, cv::Size(nw, nh), 0, 0, r < 1.0 ? shrink : cv::INTER_LINEAR);
  return out;
}

cv::Mat pad_centred(const cv::Mat& resized, int dst_w, int dst_h, double pad_value, LetterboxInfo* info) {
  check_grey(resized, "pad_centred");
  FRACTURE_CHECK(dst_w >= resized.cols && dst_h >= resized.rows, "pad_centred: a ", resized.cols, "x", resized.rows,
                 " image does not fit in ", dst_w, "x", dst_h);
  LetterboxInfo lb = info ? *info : LetterboxInfo{};
  lb.dst_w = dst_w;
  lb.dst_h = dst_h;
  lb.new_w = resized.cols;
  lb.new_h = resized.rows;
  // Ultralytics: dw = (W - w) / 2; left = round(dw - 0.1), right = round(dw + 0.1) (never a .5 tie).
  lb.pad_x = int(std::lround((dst_w - lb.new_w) / 2.0 - 0.1));
  lb.pad_y = int(std::lround((dst_h - lb.new_h) / 2.0 - 0.1));
  cv::Mat out;
  cv::copyMakeBorder(resized, out, lb.pad_y, dst_h - lb.new_h - lb.pad_y, lb.pad_x, dst_w - lb.new_w - lb.pad_x,
                     cv::BORDER_CONSTANT, cv::Scalar(pad_value));
  if (info) *info = lb;
  return out;
}

cv::Mat letterbox(const cv::Mat& img, int imgsz, double pad_value, LetterboxInfo* info) {
  check_grey(img, "letterbox");
  FRACTURE_CHECK(imgsz > 0, "letterbox: imgsz must be positive, got ", imgsz);
  LetterboxInfo lb;
  lb.src_w = img.cols;
  lb.src_h = img.rows;
  lb.scale = float(double(imgsz) / std::max(img.cols, img.rows));
  cv::Mat out = pad_centred(resize_long_side(img, imgsz), imgsz, imgsz, pad_value, &lb);
  if (info) *info = lb;
  return out;
}

cv::Mat letterbox_min(const cv::Mat& img, int imgsz, int stride, double pad_value, LetterboxInfo* info) {
  check_grey(img, "letterbox_min");
  FRACTURE_CHECK(imgsz > 0 && stride > 0, "letterbox_min: imgsz and stride must be positive, got ", imgsz, ", ",
                 stride);
  LetterboxInfo lb;
  lb.src_w = img.cols;
  lb.src_h = img.rows;
  const double r = std::min(double(imgsz) / img.rows, double(imgsz) / img.cols);
  lb.scale = float(r);
  const int nw = std::max(1, int(std::nearbyint(img.cols * r))), nh = std::max(1, int(std::nearbyint(img.rows * r)));
  cv::Mat resized = img;
  if (nw != img.cols || nh != img.rows) cv::resize(img, resized, cv::Size(nw, nh), 0, 0, cv::INTER_LINEAR);
  cv::Mat out = pad_centred(resized, nw + (imgsz - nw) % stride, nh + (imgsz - nh) % stride, pad_value, &lb);
  if (info) *info = lb;
  return out;
}

std::vector<Box> letterbox_boxes(const std::vector<Box>& boxes, const LetterboxInfo& lb) {
  // The resized image is new_w x new_h (the exact rounded size, not scale * src) placed at pad.
  std::vector<Box> out;
  out.reserve(boxes.size());
  const double dw = lb.dst_w, dh = lb.dst_h;
  for (const Box& b : boxes) {
    Box o = b;
    o.cx = float((b.cx * lb.new_w + lb.pad_x) / dw);
    o.cy = float((b.cy * lb.new_h + lb.pad_y) / dh);
    o.w = float(b.w * lb.new_w / dw);
    o.h = float(b.h * lb.new_h / dh);
    out.push_back(o);
  }
  return out;
}

cv::Point2f letterbox_to_original(const LetterboxInfo& lb, cv::Point2f p) {
  FRACTURE_CHECK(lb.new_w > 0 && lb.new_h > 0, "letterbox_to_original: empty LetterboxInfo");
  return {float((p.x - lb.pad_x) * double(lb.src_w) / lb.new_w),
          float((p.y - lb.pad_y) * double(lb.src_h) / lb.new_h)};
}

void hflip(cv::Mat& img, std::vector<Box>& boxes) {
  cv::flip(img, img, 1);
  for (Box& b : boxes) b.cx = 1.0f - b.cx;
}

void vflip(cv::Mat& img, std::vector<Box>& boxes) {
  cv::flip(img, img, 0);
  for (Box& b : boxes) b.cy = 1.0f - b.cy;
}

void random_flips(cv::Mat& img, std::vector<Box>& boxes, const AugmentOptions& opt, std::mt19937_64& rng) {
  // Ultralytics order: flipud, then fliplr.
  if (opt.flipud > 0 && uniform(rng, 0, 1) < opt.flipud) vflip(img, boxes);
  if (opt.fliplr > 0 && uniform(rng, 0, 1) < opt.fliplr) hflip(img, boxes);
}

cv::Mat affine_matrix(int in_w, int in_h, double degrees, double scale, double tx, double ty) {
  // Screen counter-clockwise with y down: x' = c x + s y, y' = -s x + c y (as cv::getRotationMatrix2D).
  double a = degrees * kPi / 180.0;
  double c = std::cos(a) * scale, s = std::sin(a) * scale;
  double cx = in_w / 2.0, cy = in_h / 2.0;
  cv::Mat M = (cv::Mat_<double>(2, 3) << c, s, tx - (c * cx + s * cy), -s, c, ty - (-s * cx + c * cy));
  return M;
}

cv::Mat warp_affine_boxes(const cv::Mat& img, std::vector<Box>& boxes, const cv::Mat& M, int out_w,
                          int out_h, double fill) {
  check_grey(img, "warp_affine_boxes");
  FRACTURE_CHECK(M.rows == 2 && M.cols == 3 && M.type() == CV_64F,
                 "warp_affine_boxes: expected a 2x3 CV_64F matrix");
  FRACTURE_CHECK(out_w > 0 && out_h > 0, "warp_affine_boxes: output size must be positive");
  double a = M.at<double>(0, 0), b = M.at<double>(0, 1), tx = M.at<double>(0, 2);
  double c = M.at<double>(1, 0), d = M.at<double>(1, 1), ty = M.at<double>(1, 2);

  // OpenCV samples at pixel indices (centres at integers); our coordinates put centres at i + 0.5.
  // Index-space translation: t + A (0.5, 0.5) - (0.5, 0.5).
  cv::Mat Mi = (cv::Mat_<double>(2, 3) << a, b, tx + 0.5 * (a + b) - 0.5, c, d, ty + 0.5 * (c + d) - 0.5);
  cv::Mat out;
  cv::warpAffine(img, out, Mi, cv::Size(out_w, out_h), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                 cv::Scalar(fill));

  double zoom2 = std::abs(a * d - b * c);  // area factor = zoom^2
  std::vector<Box> kept;
  kept.reserve(boxes.size());
  for (const Box& bx : boxes) {
    PixBox p = to_pixels(bx, img.cols, img.rows);
    double xs[4] = {p.x1, p.x2, p.x1, p.x2}, ys[4] = {p.y1, p.y1, p.y2, p.y2};
    double x1 = 1e300, y1 = 1e300, x2 = -1e300, y2 = -1e300;
    for (int k = 0; k < 4; ++k) {
      double X = a * xs[k] + b * ys[k] + tx, Y = c * xs[k] + d * ys[k] + ty;
      x1 = std::min(x1, X), x2 = std::max(x2, X), y1 = std::min(y1, Y), y2 = std::max(y2, Y);
    }
    x1 = std::clamp(x1, 0.0, double(out_w)), x2 = std::clamp(x2, 0.0, double(out_w));
    y1 = std::clamp(y1, 0.0, double(out_h)), y2 = std::clamp(y2, 0.0, double(out_h));
    double w = x2 - x1, h = y2 - y1;
    double area0 = (p.x2 - p.x1) * (p.y2 - p.y1) * zoom2;
    if (w < 2.0 || h < 2.0 || area0 <= 0 || w * h / area0 < 0.1) continue;  // box_candidates
    kept.push_back(to_normalised({p.cls, x1, y1, x2, y2}, out_w, out_h));
  }
  boxes.swap(kept);
  return out;
}

cv::Mat random_affine(const cv::Mat& img, std::vector<Box>& boxes, const AugmentOptions& opt,
                      std::mt19937_64& rng, int out_w, int out_h) {
  FRACTURE_CHECK(opt.scale >= 0 && opt.scale < 1, "augment: 'scale' must be in [0, 1), got ", opt.scale);
  FRACTURE_CHECK(opt.degrees >= 0, "augment: 'degrees' must be >= 0, got ", opt.degrees);
  FRACTURE_CHECK(opt.translate >= 0 && opt.translate <= 0.5, "augment: 'translate' must be in [0, 0.5], got ",
                 opt.translate);
  double angle = uniform(rng, -opt.degrees, opt.degrees);
  double zoom = uniform(rng, 1 - opt.scale, 1 + opt.scale);
  double tx = uniform(rng, 0.5 - opt.translate, 0.5 + opt.translate) * out_w;
  double ty = uniform(rng, 0.5 - opt.translate, 0.5 + opt.translate) * out_h;
  cv::Mat M = affine_matrix(img.cols, img.rows, angle, zoom, tx, ty);
  return warp_affine_boxes(img, boxes, M, out_w, out_h, opt.pad_value);
}

void random_intensity(cv::Mat& img, const AugmentOptions& opt, std::mt19937_64& rng) {
  check_float01(img, "random_intensity");
  bool any = false;
  if (opt.hsv_v > 0) {
    double g = uniform(rng, 1 - opt.hsv_v, 1 + opt.hsv_v);
    img *= g;
    any = true;
  }
  if (opt.contrast > 0) {
    double c = uniform(rng, 1 - opt.contrast, 1 + opt.contrast);
    double m = cv::mean(img)[0];
    img.convertTo(img, CV_32F, c, m * (1 - c));
    any = true;
  }
  if (opt.gamma > 0) {
    double L = std::log1p(opt.gamma);
    double e = std::exp(uniform(rng, -L, L));
    cv::max(img, 0.0, img);
    cv::pow(img, e, img);
    any = true;
  }
  if (any) {
    cv::max(img, 0.0, img);
    cv::min(img, 1.0, img);
  }
}

cv::Mat clahe(const cv::Mat& img, double clip, int tiles) {
  check_float01(img, "clahe");
  FRACTURE_CHECK(clip > 0, "clahe: clip limit must be positive, got ", clip);
  FRACTURE_CHECK(tiles > 0, "clahe: tiles must be positive, got ", tiles);
  // 256 grey levels, as in the usual 8-bit CLAHE: with OpenCV's 65536-bin 16-bit histogram the
  // clip limit (clip * tile area / bins) collapses to 1 for ordinary tiles and equalises nothing.
  cv::Mat u8, eq, out;
  img.convertTo(u8, CV_8U, 255.0);
  cv::Ptr<cv::CLAHE> c = cv::createCLAHE(clip, cv::Size(tiles, tiles));
  c->apply(u8, eq);
  eq.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

cv::Mat mosaic4(const std::array<cv::Mat, 4>& imgs, const std::array<std::vector<Box>, 4>& boxes,
                int imgsz, double fill, std::mt19937_64& rng, std::vector<Box>& out_boxes) {
  FRACTURE_CHECK(imgsz > 0, "mosaic4: imgsz must be positive, got ", imgsz);
  for (int i = 0; i < 4; ++i) {
    check_grey(imgs[i], "mosaic4");
    FRACTURE_CHECK(imgs[i].type() == imgs[0].type(), "mosaic4: the four images must share one type");
  }
  const int s = imgsz, S = 2 * imgsz;
  cv::Mat canvas(S, S, imgs[0].type(), cv::Scalar(fill));
  int xc = int(uniform(rng, s / 2.0, 1.5 * s));
  int yc = int(uniform(rng, s / 2.0, 1.5 * s));
  out_boxes.clear();
  for (int i = 0; i < 4; ++i) {
    const cv::Mat& im = imgs[i];
    int w = im.cols, h = im.rows;
    int x1a, y1a, x2a, y2a, x1b, y1b, x2b, y2b;  // canvas region a, source region b
    if (i == 0) {         // top-left of the centre
      x1a = std::max(xc - w, 0), y1a = std::max(yc - h, 0), x2a = xc, y2a = yc;
      x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
    } else if (i == 1) {  // top-right
      x1a = xc, y1a = std::max(yc - h, 0), x2a = std::min(xc + w, S), y2a = yc;
      x1b = 0, y1b = h - (y2a - y1a), x2b = std::min(w, x2a - x1a), y2b = h;
    } else if (i == 2) {  // bottom-left
      x1a = std::max(xc - w, 0), y1a = yc, x2a = xc, y2a = std::min(S, yc + h);
      x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = std::min(y2a - y1a, h);
    } else {              // bottom-right
      x1a = xc, y1a = yc, x2a = std::min(xc + w, S), y2a = std::min(S, yc + h);
      x1b = 0, y1b = 0, x2b = std::min(w, x2a - x1a), y2b = std::min(y2a - y1a, h);
    }
    if (x2a > x1a && y2a > y1a)
      im(cv::Rect(x1b, y1b, x2b - x1b, y2b - y1b)).copyTo(canvas(cv::Rect(x1a, y1a, x2a - x1a, y2a - y1a)));
    double padw = x1a - x1b, padh = y1a - y1b;
    for (const Box& b : boxes[i]) {
      PixBox p = to_pixels(b, w, h);
      // Keep only the part of the box on the pasted crop, then on the canvas.
      p.x1 = std::clamp(p.x1, double(x1b), double(x2b)) + padw;
      p.x2 = std::clamp(p.x2, double(x1b), double(x2b)) + padw;
      p.y1 = std::clamp(p.y1, double(y1b), double(y2b)) + padh;
      p.y2 = std::clamp(p.y2, double(y1b), double(y2b)) + padh;
      p.x1 = std::clamp(p.x1, 0.0, double(S)), p.x2 = std::clamp(p.x2, 0.0, double(S));
      p.y1 = std::clamp(p.y1, 0.0, double(S)), p.y2 = std::clamp(p.y2, 0.0, double(S));
      if (p.x2 - p.x1 < 2.0 || p.y2 - p.y1 < 2.0) continue;
      out_boxes.push_back(to_normalised(p, S, S));
    }
  }
  return canvas;
}

}  // namespace fracture
