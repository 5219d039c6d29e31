// Synthetic radiograph rendering (see synth.h). Model: an attenuation map D (soft tissue + bone +
// metal, arbitrary units where a bone's peak projected cortex is about 1) is built in a render
// frame, converted to film brightness I = bg + (1 - bg) (1 - exp(-mu D)) (Beer-Lambert, brighter =
// denser), blurred, resized to imgsz, then gamma/contrast, Poisson-like + Gaussian noise and
// collimation edges are applied.
//
// Geometry: each region is laid out upright in "layout units" (the image is [0,1]^2, y down) and
// mapped to render pixels by one similarity transform (rotation, scale, shift, mirror).
// Bones are tubes (capsules with flared ends: projected thickness of a hollow cylinder, so the
// cortex is bright at the edges and the medulla darker in the middle) or blobs (ellipsoid shells:
// carpals, condyles, humeral head). A fracture belongs to one bone and is a set of lucent lines in
// that bone's local frame; the distal fragment may be shifted, separated and angulated.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/core/rng.h"
#include "fracture/data/synth.h"
#include "fracture/data/synth_scene.h"

namespace fracture {

using namespace synth;

const std::vector<std::string>& synth_class_names() {
  static const std::vector<std::string> names = {"elbow positive",    "fingers positive", "forearm fracture",
                                                 "humerus fracture",  "humerus",          "shoulder fracture",
                                                 "wrist positive"};
  return names;
}

const char* synth_region_name(SynthRegion r) {
  static const char* names[] = {"fingers", "wrist", "forearm", "elbow", "humerus", "shoulder"};
  return names[int(r)];
}

int synth_fracture_class(SynthRegion r) {
  static const int cls[] = {1, 6, 2, 0, 3, 5};
  return cls[int(r)];
}

int synth_label(const std::vector<Box>& boxes) {
  for (const auto& b : boxes)
    if (b.cls != kSynthHumerusClass) return 1;
  return 0;
}

// Seed of image `index`: a function of (seed, index) only, so images can be drawn in any order.
static uint64_t synth_image_seed(uint64_t seed, int index) {
  return splitmix64(splitmix64(seed ^ 0x5F3759DFull) + uint64_t(index) * 0x9E3779B97F4A7C15ull + 1);
}

namespace {

// The fractures of one image, drawn on the scene's target bones (render px).
struct Fractures {
  std::vector<Fracture> list;
  std::vector<cv::Rect2d> boxes;  ///< per fracture, clipped to the render
  std::vector<int> of_prim;       ///< per prim: index into list, -1 when intact
};

// --- fractures: how many, on which bone, their lines and displacement ---------------------------
Fractures place_fractures(const SynthOptions& opt, SynthRegion region, const Scene& scene, const Difficulty& dif,
                          int R, Rng& rng) {
  Fractures F;
  std::vector<Fracture>& fractures = F.list;
  std::vector<cv::Rect2d>& frac_boxes = F.boxes;
  std::vector<int>& frac_of = F.of_prim;
  frac_of.assign(scene.prims.size(), -1);
  const bool want_fracture = rng.chance(opt.fracture_rate);
  int n_wanted = want_fracture ? (rng.chance(0.12) ? 2 : 1) : 0;
  for (int attempt = 0; attempt < 12 && int(fractures.size()) < n_wanted && !scene.targets.empty(); ++attempt) {
    int pi = scene.targets[rng.integer(0, int(scene.targets.size()) - 1)];
    if (frac_of[pi] >= 0) continue;
    const Prim& p = scene.prims[pi];
    Frame f = frame_of(p);
    Fracture fr;
    fr.prim = pi;
    fr.cls = synth_fracture_class(region);
    double lo, hi;
    fracture_range(region, p, lo, hi);
    fr.u0 = p.kind == kTube ? rng.uni(lo, hi) * f.len : rng.uni(lo, hi) * p.ra;
    double rad = half_width_at(p, f, fr.u0);
    if (rad < 1.0) continue;
    bool hairline = rng.chance(dif.p_hairline);
    bool comminuted = !hairline && rng.chance(dif.p_comminuted);
    fr.width = std::max(0.6, rng.uni(dif.width_lo, dif.width_hi) * rad * (hairline ? 0.5 : 1.0));
    fr.contrast = rng.uni(dif.contrast_lo, dif.contrast_hi) * (hairline ? 0.7 : 1.0);
    fr.tilt[0] = rng.uni(-0.7, 0.7);
    if (comminuted) {
      fr.lines = rng.integer(2, 3);
      for (int k = 1; k < fr.lines; ++k) {
        fr.tilt[k] = rng.uni(-0.9, 0.9);
        fr.offset[k] = rng.uni(0.4, 1.1) * rad * (k == 1 ? 1 : -1);
      }
    }
    if (!hairline && rng.chance(dif.p_displaced)) {
      fr.shift = rng.uni(-1, 1) * dif.shift_max * rad;
      fr.gap = rng.uni(0.0, 0.3) * rad;
      fr.angulation = rng.uni(-0.15, 0.15);
    }
    cv::Rect2d box = fracture_box(p, fr);
    if (!inside(box, R, 0.8)) continue;
    frac_of[pi] = int(fractures.size());
    fractures.push_back(fr);
    frac_boxes.push_back(box & cv::Rect2d(0, 0, R, R));
  }

  return F;
}

// --- attenuation map D: soft tissue, swelling over fractures, flat bones, bones, metal -----------
cv::Mat attenuation(const Scene& scene, const Fractures& F, const Difficulty& dif, int R, Rng& rng,
                    const SynthRenderParts& parts) {
  const std::vector<Fracture>& fractures = F.list;
  const std::vector<int>& frac_of = F.of_prim;
  cv::Mat soft = cv::Mat::zeros(R, R, CV_32F);
  for (size_t i = 0; i < scene.soft_r.size(); ++i) {
    cv::line(soft, scene.soft_a[i], scene.soft_b[i], cv::Scalar(1.0), std::max(1, int(2 * scene.soft_r[i])),
             cv::LINE_AA);
  }
  double soft_sigma = 0.035 * R;
  cv::GaussianBlur(soft, soft, cv::Size(0, 0), soft_sigma);
  cv::Mat D = soft * rng.uni(0.10, 0.20);
  // Soft-tissue swelling (haematoma/oedema) around each fracture: the indirect sign a reader sees
  // before the line itself; a blurred ellipse along the bone, ~8.5 x 6 bone radii, over the site.
  for (const Fracture& fr : fractures) {
    const Prim& p = scene.prims[fr.prim];
    Frame f = frame_of(p);
    double rad = std::max(1.0, half_width_at(p, f, fr.u0));
    cv::Point2d c = f.o + fr.u0 * f.du;
    double amp = rng.uni(dif.swell_lo, dif.swell_hi);
    if (amp <= 0) continue;
    cv::Mat m = cv::Mat::zeros(R, R, CV_32F);
    double ang = std::atan2(f.du.y, f.du.x) * 180.0 / kPi;
    // at least ~12% x 8% of the film: a swollen finger or wrist is swollen as a whole
    double len = std::max(rng.uni(7.0, 10.0) * rad, rng.uni(0.10, 0.14) * R);
    double wid = std::max(rng.uni(5.0, 7.0) * rad, rng.uni(0.07, 0.09) * R);
    cv::ellipse(m, cv::RotatedRect(cv::Point2f(float(c.x), float(c.y)), cv::Size2f(float(len), float(wid)), float(ang)),
                cv::Scalar(1.0), cv::FILLED, cv::LINE_AA);
    cv::GaussianBlur(m, m, cv::Size(0, 0), 0.25 * wid);
    if (parts.fractures && parts.swelling) D += m * amp;
  }
  for (const auto& poly : scene.flat) {
    cv::Mat m = cv::Mat::zeros(R, R, CV_32F);
    cv::fillPoly(m, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(1.0), cv::LINE_AA);
    cv::GaussianBlur(m, m, cv::Size(0, 0), 0.004 * R + 0.5);
    D += m * 0.15;
  }
  const double bone_gain = rng.uni(0.85, 1.15);
  cv::Mat bone = cv::Mat::zeros(R, R, CV_32F);
  for (size_t i = 0; i < scene.prims.size(); ++i)
    draw_prim(bone, scene.prims[i], parts.fractures && frac_of[i] >= 0 ? &fractures[frac_of[i]] : nullptr);
  D += bone * bone_gain;

  // metal hardware: a plate along a tube with screws across it
  if (rng.chance(dif.p_metal)) {
    std::vector<int> tubes;
    for (size_t i = 0; i < scene.prims.size(); ++i)
      if (scene.prims[i].kind == kTube && frame_of(scene.prims[i]).len > 0.15 * R) tubes.push_back(int(i));
    if (!tubes.empty()) {
      const Prim& p = scene.prims[tubes[rng.integer(0, int(tubes.size()) - 1)]];
      Frame f = frame_of(p);
      double t0 = rng.uni(0.1, 0.5), t1 = t0 + rng.uni(0.2, 0.4);
      double r = tube_radius(p, f.len, 0.5 * (t0 + t1) * f.len);
      double side = rng.chance(0.5) ? 1 : -1;
      cv::Mat m = cv::Mat::zeros(R, R, CV_32F);
      cv::Point2d a = f.o + t0 * f.len * f.du + side * 0.8 * r * f.dv;
      cv::Point2d b = f.o + std::min(t1, 0.95) * f.len * f.du + side * 0.8 * r * f.dv;
      cv::line(m, a, b, cv::Scalar(1.0), std::max(1, int(0.45 * r)), cv::LINE_AA);
      int screws = rng.integer(2, 5);
      for (int k = 0; k < screws; ++k) {
        cv::Point2d c = a + (b - a) * ((k + 0.5) / screws);
        cv::line(m, c + side * 0.4 * r * f.dv, c - side * 1.9 * r * f.dv, cv::Scalar(1.0),
                 std::max(1, int(0.3 * r)), cv::LINE_AA);
      }
      D += m * 4.0;
    }
  }

  return D;
}

// --- film: brightness from D, marker, blur, resize to S, exposure, collimation, noise -------------
cv::Mat film(const cv::Mat& D, const std::vector<cv::Rect2d>& frac_boxes, const Difficulty& dif, int R, int S,
             Rng& rng) {
  const double bg = rng.uni(0.03, 0.13);
  const double mu = rng.uni(0.9, 1.4);
  cv::Mat I;
  cv::exp(D * -mu, I);
  I = bg + (1.0 - bg) * (1.0 - I);
  // L/R marker: a bright letter in a corner
  if (rng.chance(dif.p_marker)) {
    const char* letter = rng.chance(0.5) ? "L" : "R";
    double h = rng.uni(0.05, 0.08) * R;
    int corner = rng.integer(0, 3);
    double x = (corner & 1) ? R - 2.2 * h : 0.6 * h, y = (corner & 2) ? R - 0.6 * h : 1.6 * h;
    cv::putText(I, letter, cv::Point(int(x), int(y)), cv::FONT_HERSHEY_SIMPLEX, h / 22.0, cv::Scalar(0.97),
                std::max(1, int(h / 8)), cv::LINE_AA);
  }
  double blur = rng.uni(dif.blur_lo, dif.blur_hi) * double(R) / S;
  cv::GaussianBlur(I, I, cv::Size(0, 0), blur);
  cv::Mat out;
  if (R != S)
    cv::resize(I, out, cv::Size(S, S), 0, 0, cv::INTER_AREA);
  else
    out = I;

  // exposure / contrast / gamma
  double gamma = rng.uni(0.8, 1.25), contrast = rng.uni(0.85, 1.15), exposure = rng.uni(-0.04, 0.04);
  cv::max(out, 0.0, out);
  cv::pow(out, gamma, out);
  out = (out - 0.5) * contrast + 0.5 + exposure;
  // collimation: outside a rotated rectangle the film is either bright (shielded plate edge) or dark
  if (rng.chance(dif.p_collimation)) {
    cv::Mat mask = cv::Mat::zeros(S, S, CV_8U);
    double m = rng.uni(0.03, 0.12) * S;
    double ang = rng.uni(-3, 3);
    cv::RotatedRect rr(cv::Point2f(float(S / 2.0 + rng.uni(-0.03, 0.03) * S), float(S / 2.0)),
                       cv::Size2f(float(S - 2 * m * rng.uni(0, 1)), float(S - 2 * m)), float(ang));
    cv::Point2f pts[4];
    rr.points(pts);
    std::vector<cv::Point> poly;
    for (auto& q : pts) poly.emplace_back(int(std::lround(q.x)), int(std::lround(q.y)));
    cv::fillConvexPoly(mask, poly, cv::Scalar(255));
    // never hide a fracture: every box corner must stay inside the collimated field
    bool covers = true;
    for (const auto& fb : frac_boxes) {
      double k = double(S) / R;
      for (cv::Point2d c : {fb.tl(), fb.br(), cv::Point2d(fb.x, fb.y + fb.height), cv::Point2d(fb.x + fb.width, fb.y)}) {
        std::vector<cv::Point2f> pf(poly.begin(), poly.end());
        if (cv::pointPolygonTest(pf, cv::Point2f(float(c.x * k), float(c.y * k)), false) < 0) covers = false;
      }
    }
    double level = rng.chance(0.6) ? rng.uni(0.8, 0.95) : rng.uni(0.0, 0.04);
    if (covers) out.setTo(level, mask == 0);
  }
  // noise: Poisson-like (sigma ~ sqrt(I)) plus Gaussian, from our own RNG
  double q = rng.uni(dif.quantum_lo, dif.quantum_hi), g = rng.uni(dif.gauss_lo, dif.gauss_hi);
  cv::Mat noise(S, S, CV_32F);
  cv::RNG cvrng(rng.eng());
  cvrng.fill(noise, cv::RNG::NORMAL, 0.0, 1.0);
  for (int y = 0; y < S; ++y) {
    float* o = out.ptr<float>(y);
    const float* z = noise.ptr<float>(y);
    for (int x = 0; x < S; ++x) {
      double v = std::max(0.0f, o[x]);
      v += (q * std::sqrt(v) + g) * z[x];
      o[x] = float(std::clamp(v, 0.0, 1.0));
    }
  }

  return out;
}

// --- labels: fracture boxes, and the humerus anatomy box on some humerus images ----------------
std::vector<Box> label_boxes(SynthRegion region, const Scene& scene, const Fractures& F, int R, Rng& rng) {
  const std::vector<Fracture>& fractures = F.list;
  std::vector<Box> boxes;
  auto add_box = [&](int cls, const cv::Rect2d& r) {
    cv::Rect2d c = r & cv::Rect2d(0, 0, R, R);
    if (c.width <= 0 || c.height <= 0) return;
    Box b;
    b.cls = cls;
    b.cx = float((c.x + 0.5 * c.width) / R);
    b.cy = float((c.y + 0.5 * c.height) / R);
    b.w = float(c.width / R);
    b.h = float(c.height / R);
    boxes.push_back(b);
  };
  for (size_t k = 0; k < fractures.size(); ++k) add_box(fractures[k].cls, F.boxes[k]);
  // `humerus` anatomy box around the visible humerus (head to condyles), on some humerus images
  if (region == SynthRegion::kHumerus && scene.humerus >= 0 && rng.chance(fractures.empty() ? 0.7 : 0.4)) {
    double xmin = 1e30, ymin = 1e30, xmax = -1e30, ymax = -1e30;
    for (int pi : {scene.humerus, scene.humerus_head, scene.humerus_condyles}) {
      if (pi < 0) continue;
      const Prim& p = scene.prims[pi];
      double r = p.kind == kTube ? std::max(p.ra, p.rb) * 1.3 : std::max(p.ra, p.rb);
      for (cv::Point2d c : {p.a, p.kind == kTube ? p.b : p.a}) {
        xmin = std::min(xmin, c.x - r), xmax = std::max(xmax, c.x + r);
        ymin = std::min(ymin, c.y - r), ymax = std::max(ymax, c.y + r);
      }
    }
    add_box(kSynthHumerusClass, cv::Rect2d(xmin, ymin, xmax - xmin, ymax - ymin));
  }
  return boxes;
}

}  // namespace

SynthSample render_synth(const SynthOptions& opt, const SynthPlanItem& item, const SynthRenderParts& parts) {
  Rng rng(synth_image_seed(opt.seed, item.index));
  const Difficulty dif = difficulty_of(opt.difficulty);
  const int S = opt.imgsz;
  const int R = std::max(S, 256);  // render size: thin structures are drawn at >= 256 px then resized
  const SynthRegion region = item.region;

  // --- pose and anatomy ------------------------------------------------------------------------
  Layout L;
  L.size = R;
  L.scale = rng.uni(0.8, 1.15);
  L.rot = rng.uni(-0.45, 0.45);
  L.mirror = rng.chance(0.5) ? -1.0 : 1.0;
  L.sx = rng.uni(-0.08, 0.08);
  L.sy = rng.uni(-0.06, 0.06);
  Scene scene;
  Builder B{L, scene, rng};
  build_scene(region, B);

  // The same random stream in the same order through every stage: images do not change.
  const Fractures F = place_fractures(opt, region, scene, dif, R, rng);
  Fractures drawn = F;
  if (!parts.displacement)
    for (Fracture& fr : drawn.list) fr.shift = fr.gap = fr.angulation = 0;
  const cv::Mat D = attenuation(scene, drawn, dif, R, rng, parts);
  SynthSample s;
  s.image = film(D, F.boxes, dif, R, S, rng);
  s.region = region;
  s.boxes = label_boxes(region, scene, F, R, rng);
  s.label = synth_label(s.boxes);
  return s;
}

}  // namespace fracture
