// Augmentations for grey radiographs, on cv::Mat (no torch): letterbox, flips, random affine,
// mosaic of 4, brightness/contrast/gamma jitter, CLAHE.
//
//   std::mt19937_64 rng(seed);
//   fracture::AugmentOptions aug;                       // Ultralytics names and defaults
//   fracture::LetterboxInfo lb;
//   cv::Mat x = fracture::letterbox(img, 640, aug.pad_value, &lb);   // img: CV_32FC1 in [0, 1]
//   std::vector<fracture::Box> boxes = fracture::letterbox_boxes(item.boxes, lb);
//   x = fracture::random_affine(x, boxes, aug, rng, 640, 640);
//   fracture::random_flips(x, boxes, aug, rng);
//   fracture::random_intensity(x, aug, rng);
//
// Conventions.
// - Boxes are always YOLO boxes (fracture::Box): normalised cx, cy, w, h relative to the width and
//   height of the image they come with. Inside the geometry code boxes are pixel xyxy.
// - Pixel coordinates are continuous: pixel (i, j) covers [j, j+1) x [i, i+1), so a W-pixel-wide
//   image spans x in [0, W] and a normalised x maps to pixels as x * W.
// - Geometric functions accept any single-channel cv::Mat (CV_8UC1, CV_16UC1, CV_32FC1); the
//   intensity functions and CLAHE work on CV_32FC1 in [0, 1]. Fill values are in the same units
//   as the image, so pad_value (114/255 as in Ultralytics) is meant for float images in [0, 1].
// - All randomness comes from the caller's std::mt19937_64; draws use our own uniform() so the same
//   seed gives the same images on every standard library.
#pragma once
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <array>
#include <random>
#include <vector>

#include "fracture/core/config.h"
#include "fracture/data/dataset.h"

namespace fracture {

/// Augmentation settings. Names and defaults follow Ultralytics' detection defaults
/// (degrees 0, translate 0.1, scale 0.5, fliplr 0.5, flipud 0, hsv_v 0.4, mosaic 1.0).
struct AugmentOptions {
  float degrees = 0.0f;     ///< rotation drawn from U(-degrees, +degrees), degrees, counter-clockwise on screen
  float translate = 0.1f;   ///< translation drawn from U(-translate, +translate) x output size
  float scale = 0.5f;       ///< zoom factor drawn from U(1 - scale, 1 + scale)
  float fliplr = 0.5f;      ///< probability of a horizontal flip (cx -> 1 - cx)
  float flipud = 0.0f;      ///< probability of a vertical flip (cy -> 1 - cy)
  float hsv_v = 0.4f;       ///< brightness gain drawn from U(1 - hsv_v, 1 + hsv_v) (grey analogue of HSV value)
  float contrast = 0.0f;    ///< contrast gain around the image mean, from U(1 - contrast, 1 + contrast)
  float gamma = 0.0f;       ///< gamma exponent exp(U(-log(1 + gamma), +log(1 + gamma))); 0 = off
  float mosaic = 1.0f;      ///< probability of a 4-image mosaic (detection only)
  float pad_value = 114.0f / 255.0f;  ///< fill for letterbox padding and areas uncovered by warps
};

/// Which task's defaults fill the keys left null (translate, scale, hsv_v).
enum class AugmentTask { kDetect, kClassify };

/// AugmentOptions from the config keys degrees, translate, scale, fliplr, flipud, mosaic, hsv_v,
/// aug_contrast, aug_gamma (configs/default.yaml); range-checked, errors name the key. A null
/// translate / scale / hsv_v takes the task's default: detection the Ultralytics 0.1 / 0.5 / 0.4;
/// classification the milder 0.05 / 0.1 / 0.2 (the study's "small rotation and scale": zooming out
/// by up to 2x can shrink a fracture line below a pixel; on the synthetic set both settings learnt
/// about equally, so this is a choice of principle, see README).
AugmentOptions augment_options(const Config& cfg, AugmentTask task = AugmentTask::kDetect);

/// How letterbox() mapped the original image: x_out = x_in * scale + pad_x (pixels, same for y).
struct LetterboxInfo {
  int src_w = 0, src_h = 0;  ///< original size, pixels
  int dst_w = 0, dst_h = 0;  ///< output size, pixels (square imgsz, or a rectangular batch shape)
  float scale = 1.0f;        ///< output pixels per original pixel
  int new_w = 0, new_h = 0;  ///< size of the resized image inside the output
  int pad_x = 0, pad_y = 0;  ///< left and top padding, pixels (right/bottom get the remainder)
};

/// Resizes `img` keeping its aspect ratio so its long side is `imgsz`, then pads it centred to an
/// imgsz x imgsz square with `pad_value`. Shrinks with INTER_AREA, enlarges with INTER_LINEAR.
/// Example: 200x100 to 64 gives scale 0.32, a 64x32 image, pad_x 0, pad_y 16.
cv::Mat letterbox(const cv::Mat& img, int imgsz, double pad_value, LetterboxInfo* info);

/// Pads an already resized image centred to dst_w x dst_h (each at least its size) with `pad_value`,
/// as Ultralytics' LetterBox(center=True, scaleup=False) does once load_image has resized it: left =
/// round(dw / 2 - 0.1), top = round(dh / 2 - 0.1). Sets info's dst, new and pad fields only; the
/// caller knows the original size and scale.
cv::Mat pad_centred(const cv::Mat& resized, int dst_w, int dst_h, double pad_value, LetterboxInfo* info);

/// Ultralytics' prediction letterbox (8.1.0 LetterBox(auto=True, scaleup=True) for PyTorch models):
/// scale r = min(imgsz / w, imgsz / h), enlarging too; size round(w r) x round(h r) (Python's round,
/// half to even) by INTER_LINEAR; then padded centred only up to the next multiple of `stride` per
/// side, not to the square. Example: 1000x333 at 640 -> r 0.64, 640x213 resized, padded to 640x224.
cv::Mat letterbox_min(const cv::Mat& img, int imgsz, int stride, double pad_value, LetterboxInfo* info);

/// Maps boxes normalised to the original image into boxes normalised to the letterboxed output.
std::vector<Box> letterbox_boxes(const std::vector<Box>& boxes, const LetterboxInfo& lb);

/// Maps a point in letterboxed pixels back to original-image pixels (inverse of the letterbox).
cv::Point2f letterbox_to_original(const LetterboxInfo& lb, cv::Point2f p);

/// Resizes so the long side is `imgsz` keeping the aspect ratio, as Ultralytics 8.1.0's
/// BaseDataset.load_image: r = imgsz / max(w, h), size min(ceil(w r), imgsz) x min(ceil(h r), imgsz);
/// INTER_LINEAR when enlarging, and when shrinking `shrink` (Ultralytics: INTER_AREA for validation,
/// INTER_LINEAR when augmenting for training).
cv::Mat resize_long_side(const cv::Mat& img, int imgsz, int shrink = cv::INTER_AREA);

/// Horizontal flip of the image (in place) and boxes (cx -> 1 - cx).
void hflip(cv::Mat& img, std::vector<Box>& boxes);
/// Vertical flip of the image (in place) and boxes (cy -> 1 - cy).
void vflip(cv::Mat& img, std::vector<Box>& boxes);
/// Flips horizontally with probability opt.fliplr and vertically with probability opt.flipud.
void random_flips(cv::Mat& img, std::vector<Box>& boxes, const AugmentOptions& opt, std::mt19937_64& rng);

/// Affine matrix (2x3, CV_64F) mapping input pixels to output pixels: move the input centre to
/// the origin, rotate by `degrees` (counter-clockwise on screen, y pointing down) and zoom by
/// `scale`, then move the origin to (tx, ty) in output pixels. tx = out_w / 2, ty = out_h / 2
/// keeps the image centred.
cv::Mat affine_matrix(int in_w, int in_h, double degrees, double scale, double tx, double ty);

/// Warps `img` with the 2x3 matrix `M` into an out_w x out_h image (bilinear, fill `fill`), and
/// the boxes with it: each box's four corners are transformed, their bounding box taken and
/// clipped to the output. A box is dropped when its clipped width or height is under 2 px or its
/// clipped area is under 10% of its original area times the zoom squared (Ultralytics'
/// box_candidates). `boxes` are normalised to the input on entry and to the output on return.
cv::Mat warp_affine_boxes(const cv::Mat& img, std::vector<Box>& boxes, const cv::Mat& M, int out_w,
                          int out_h, double fill);

/// Random rotation/zoom/translation (Ultralytics random_perspective without shear and perspective):
/// angle U(-degrees, degrees), zoom U(1-scale, 1+scale), centre placed at
/// U(0.5 - translate, 0.5 + translate) x output size. Output out_w x out_h; a 2*s canvas warped to
/// s x s is how a mosaic is brought back to imgsz.
cv::Mat random_affine(const cv::Mat& img, std::vector<Box>& boxes, const AugmentOptions& opt,
                      std::mt19937_64& rng, int out_w, int out_h);

/// Brightness gain (hsv_v), contrast around the mean, then gamma, each drawn from its range, on a
/// CV_32FC1 image in [0, 1] (in place, result clipped to [0, 1]). Disabled parts draw nothing.
void random_intensity(cv::Mat& img, const AugmentOptions& opt, std::mt19937_64& rng);

/// Contrast-limited adaptive histogram equalisation of a CV_32FC1 image in [0, 1] (computed on 8 bits,
/// so the output has 256 grey levels),
/// clip limit `clip` (OpenCV units; 2 to 4 is usual), `tiles` x `tiles` grid. Returns a new image.
cv::Mat clahe(const cv::Mat& img, double clip, int tiles = 8);

/// Ultralytics-style mosaic: a 2*imgsz square canvas filled with `fill`, a centre (xc, yc) drawn
/// from U(imgsz/2, 3*imgsz/2), and the four images (each already resized so its long side is
/// imgsz, see resize_long_side) placed top-left, top-right, bottom-left, bottom-right of the centre,
/// cropped at the canvas edges. Boxes are moved with their image, clipped to the canvas and
/// dropped when under 2 px; on return `out_boxes` are normalised to the 2*imgsz canvas.
/// Follow with random_affine(canvas, boxes, opt, rng, imgsz, imgsz) to get an imgsz image.
cv::Mat mosaic4(const std::array<cv::Mat, 4>& imgs, const std::array<std::vector<Box>, 4>& boxes,
                int imgsz, double fill, std::mt19937_64& rng, std::vector<Box>& out_boxes);

/// U(a, b) from the top 53 bits of one draw (same numbers on every standard library).
double uniform(std::mt19937_64& rng, double a, double b);

}  // namespace fracture
