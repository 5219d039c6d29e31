// The anatomy of the synthetic radiographs (see synth_render.cpp for the model): bone primitives
// and their projected density, fracture lines and boxes, and the layouts of each body region.
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "fracture/core/error.h"
#include "fracture/data/synth_scene.h"

namespace fracture::synth {

Difficulty difficulty_of(const std::string& d) {
  //       width      contrast    displ shift comm  hair  quantum       gauss         blur      metal mark  coll
  //       swelling
  if (d == "easy") return {0.60, 1.00, 0.95, 1.00, 0.90, 1.00, 0.30, 0.00, 0.004, 0.010, 0.002, 0.006, 0.2, 0.5,
                           0.05, 0.20, 0.10, 0.25, 0.40};
  if (d == "medium") return {0.30, 0.55, 0.70, 0.95, 0.50, 0.50, 0.15, 0.15, 0.010, 0.022, 0.004, 0.010, 0.3, 0.7,
                             0.20, 0.40, 0.30, 0.18, 0.32};
  return {0.12, 0.25, 0.40, 0.70, 0.15, 0.25, 0.08, 0.50, 0.020, 0.040, 0.008, 0.018, 0.4, 1.0, 0.40, 0.60, 0.50,
          0.05, 0.15};
}


Frame frame_of(const Prim& p) {
  Frame f;
  f.o = p.a;
  if (p.kind == kTube) {
    cv::Point2d d = p.b - p.a;
    f.len = std::max(1e-6, std::hypot(d.x, d.y));
    f.du = d / f.len;
  } else {
    f.du = {std::cos(p.angle), std::sin(p.angle)};
  }
  f.dv = {-f.du.y, f.du.x};
  return f;
}

// Radius of a tube at axial position u (px), with flared ends.
double tube_radius(const Prim& p, double len, double u) {
  double t = std::clamp(u / len, 0.0, 1.0);
  double r = p.ra + (p.rb - p.ra) * t;
  double ea = t / 0.14, eb = (1.0 - t) / 0.14;
  return r * (1.0 + p.flare_a * std::exp(-ea * ea) + p.flare_b * std::exp(-eb * eb));
}

// Projected thickness, normalised so a tube's peak (at the inner wall) is about 1.
double prim_density(const Prim& p, const Frame& f, double u, double v) {
  const double m = p.medulla, hollow = 0.88;  // the medulla keeps 12% of cortical density
  if (p.kind == kTube) {
    double r, d;
    if (u < 0) {
      r = tube_radius(p, f.len, 0);
      d = std::hypot(u * 1.3, v);  // slightly flattened cap
    } else if (u > f.len) {
      r = tube_radius(p, f.len, f.len);
      d = std::hypot((u - f.len) * 1.3, v);
    } else {
      r = tube_radius(p, f.len, u);
      d = std::fabs(v);
    }
    if (d >= r) return 0;
    double x = d / r;
    double outer = std::sqrt(1 - x * x);
    double inner = x < m ? std::sqrt(m * m - x * x) : 0.0;
    double peak = std::sqrt(1 - m * m);
    return p.density * (outer - hollow * inner) / peak;
  }
  double x = u / p.ra, y = v / p.rb;
  double rho2 = x * x + y * y;
  if (rho2 >= 1) return 0;
  double mm = m + 0.15;  // blobs are cancellous: thinner shell
  double outer = std::sqrt(1 - rho2);
  double inner = rho2 < mm * mm ? std::sqrt(mm * mm - rho2) : 0.0;
  return p.density * 0.9 * (outer - 0.7 * inner) / std::sqrt(1 - mm * mm);
}

// Signed distance of (u, v) to fracture line k (positive on the distal side).
double line_dist(const Fracture& fr, int k, double u, double v) {
  double t = fr.tilt[k];
  return (u - fr.u0 - fr.offset[k]) * std::cos(t) - v * std::sin(t);
}

// Lucency factor in [1 - contrast, 1] from the distance to the nearest fracture line (soft edges).
double lucency(const Fracture& fr, double u, double v) {
  double f = 1.0;
  for (int k = 0; k < fr.lines; ++k) {
    double d = std::fabs(line_dist(fr, k, u, v));
    double h = 0.5 * fr.width;
    double w = d <= h ? 1.0 : std::exp(-((d - h) * (d - h)) / 0.5);  // ~0.7 px soft edge
    f = std::min(f, 1.0 - fr.contrast * w);
  }
  return f;
}

// Distal-fragment motion: display (u, v) -> source (u', v'); pivot at (u0, 0).
cv::Point2d distal_to_source(const Fracture& fr, double u, double v) {
  double x = u - fr.gap - fr.u0, y = v - fr.shift;
  double c = std::cos(-fr.angulation), s = std::sin(-fr.angulation);
  return {c * x - s * y + fr.u0, s * x + c * y};
}
cv::Point2d source_to_distal(const Fracture& fr, double u, double v) {
  double x = u - fr.u0, y = v;
  double c = std::cos(fr.angulation), s = std::sin(fr.angulation);
  return {c * x - s * y + fr.u0 + fr.gap, s * x + c * y + fr.shift};
}

// Adds one primitive (with its fracture, if any) to the attenuation map.
void draw_prim(cv::Mat& D, const Prim& p, const Fracture* fr) {
  Frame f = frame_of(p);
  double reach = p.kind == kTube ? std::max(p.ra, p.rb) * (1 + std::max(p.flare_a, p.flare_b)) + 2
                                 : std::max(p.ra, p.rb) + 2;
  cv::Point2d lo = p.a, hi = p.a;
  if (p.kind == kTube) {
    lo = {std::min(p.a.x, p.b.x), std::min(p.a.y, p.b.y)};
    hi = {std::max(p.a.x, p.b.x), std::max(p.a.y, p.b.y)};
  }
  if (fr) reach += std::fabs(fr->shift) + fr->gap + 0.5 * f.len * std::fabs(fr->angulation) + 2;
  int x0 = std::max(0, int(std::floor(lo.x - reach))), x1 = std::min(D.cols - 1, int(std::ceil(hi.x + reach)));
  int y0 = std::max(0, int(std::floor(lo.y - reach))), y1 = std::min(D.rows - 1, int(std::ceil(hi.y + reach)));
  for (int y = y0; y <= y1; ++y) {
    float* row = D.ptr<float>(y);
    for (int x = x0; x <= x1; ++x) {
      cv::Point2d q(x + 0.5 - f.o.x, y + 0.5 - f.o.y);
      double u = q.dot(f.du), v = q.dot(f.dv);
      double val;
      if (!fr) {
        val = prim_density(p, f, u, v);
      } else {
        val = 0;
        if (line_dist(*fr, 0, u, v) <= 0) val += prim_density(p, f, u, v) * lucency(*fr, u, v);
        cv::Point2d s = distal_to_source(*fr, u, v);
        if (line_dist(*fr, 0, s.x, s.y) > 0) val += prim_density(p, f, s.x, s.y) * lucency(*fr, s.x, s.y);
      }
      row[x] += float(val);
    }
  }
}

// Half-length of the chord across the bone at axial position u (px), for fracture line extents.
double half_width_at(const Prim& p, const Frame& f, double u) {
  if (p.kind == kTube) return tube_radius(p, f.len, u);
  double x = std::clamp(u / p.ra, -1.0, 1.0);
  return p.rb * std::sqrt(std::max(0.0, 1 - x * x));
}

// Pixel-space bounding box of a fracture (both fragments' line ends), with a margin.
cv::Rect2d fracture_box(const Prim& p, const Fracture& fr) {
  Frame f = frame_of(p);
  double xmin = 1e30, ymin = 1e30, xmax = -1e30, ymax = -1e30;
  auto add = [&](double u, double v) {
    cv::Point2d g = f.o + u * f.du + v * f.dv;
    xmin = std::min(xmin, g.x), xmax = std::max(xmax, g.x);
    ymin = std::min(ymin, g.y), ymax = std::max(ymax, g.y);
  };
  for (int k = 0; k < fr.lines; ++k) {
    double t = std::tan(fr.tilt[k]);
    for (int i = 0; i <= 8; ++i) {
      // walk across the bone along the line: u = u0 + offset + t v
      double h = half_width_at(p, f, fr.u0 + fr.offset[k]) * 1.05;
      double v = -h + 2 * h * i / 8.0;
      double u = fr.u0 + fr.offset[k] + t * v;
      if (prim_density(p, f, u, v) <= 0 && i != 0 && i != 8) continue;
      add(u, v);
      cv::Point2d d = source_to_distal(fr, u, v);
      add(d.x, d.y);
    }
  }
  double r = half_width_at(p, f, fr.u0);
  double margin = 0.25 * r + 1.5;
  return {xmin - margin, ymin - margin, xmax - xmin + 2 * margin, ymax - ymin + 2 * margin};
}


void layout_hand(Builder& B, double base_y, bool fingers_targets, bool with_forearm) {
  Rng& r = B.rng;
  double spread = r.uni(0.8, 1.2);
  // four finger rays (metacarpal + 3 phalanges), fanning out
  const double fx[4] = {0.40, 0.47, 0.54, 0.61};
  const double fa[4] = {-0.16, -0.05, 0.05, 0.16};
  const double fl[4] = {1.0, 1.1, 1.05, 0.85};
  for (int i = 0; i < 4; ++i) {
    double ang = -kPi / 2 + fa[i] * spread + r.uni(-0.04, 0.04);
    double s = fl[i] * r.uni(0.95, 1.05);
    double bx = fx[i] + r.uni(-0.01, 0.01), by = base_y;
    double mlen = 0.22 * s;
    B.tube(bx, by, bx + std::cos(ang) * mlen, by + std::sin(ang) * mlen, 0.020, 0.017, 0.35, 0.45, false);
    double px = bx + std::cos(ang) * (mlen + 0.015), py = by + std::sin(ang) * (mlen + 0.015);
    double bend = r.uni(-0.1, 0.1);
    B.ray(px, py, ang + bend, {0.13 * s, 0.085 * s, 0.06 * s}, 0.016, 0.012, fingers_targets);
    double ex = px + std::cos(ang + bend) * 0.31 * s, ey = py + std::sin(ang + bend) * 0.31 * s;
    B.soft(bx, by + 0.03, ex, ey, 0.034);
  }
  // thumb
  double ta = -kPi / 2 - r.uni(0.55, 0.85);
  double tx = 0.36, ty = base_y + 0.06;
  B.tube(tx, ty, tx + std::cos(ta) * 0.14, ty + std::sin(ta) * 0.14, 0.021, 0.018, 0.3, 0.4, false);
  double px = tx + std::cos(ta) * 0.155, py = ty + std::sin(ta) * 0.155;
  B.ray(px, py, ta + 0.1, {0.1, 0.07}, 0.018, 0.012, fingers_targets);
  B.soft(tx, ty, px + std::cos(ta + 0.1) * 0.17, py + std::sin(ta + 0.1) * 0.17, 0.036);
  // palm and carpals
  B.soft(0.44, base_y + 0.02, 0.56, base_y + 0.02, 0.12);
  for (int row = 0; row < 2; ++row)
    for (int k = 0; k < 4; ++k) {
      double x = 0.40 + 0.065 * k + r.uni(-0.008, 0.008), y = base_y + 0.05 + 0.055 * row + r.uni(-0.006, 0.006);
      B.blob(x, y, r.uni(0.024, 0.032), r.uni(0.02, 0.026), r.uni(-0.5, 0.5), !fingers_targets, 0.8);
    }
  if (with_forearm) {
    // distal radius (thumb side) and ulna
    B.tube(0.42, base_y + 0.17, 0.43, base_y + 0.6, 0.048, 0.034, 0.5, 0.0, !fingers_targets);
    B.tube(0.60, base_y + 0.18, 0.59, base_y + 0.6, 0.03, 0.027, 0.35, 0.0, !fingers_targets);
    B.soft(0.5, base_y + 0.1, 0.5, base_y + 0.75, 0.14);
  }
}

void layout_forearm(Builder& B) {
  Rng& r = B.rng;
  double bow = r.uni(-0.02, 0.02);
  B.tube(0.43, 0.10, 0.41 + bow, 0.88, 0.024, 0.04, 0.45, 0.55);   // radius: thin proximal, wide distal
  B.tube(0.58, 0.07, 0.58, 0.86, 0.034, 0.022, 0.6, 0.3);           // ulna: wide proximal
  B.blob(0.43, 0.07, 0.032, 0.026, 0.0, false);                      // radial head
  B.blob(0.58, 0.035, 0.045, 0.03, 0.0, false);                      // olecranon
  for (int k = 0; k < 4; ++k) B.blob(0.41 + 0.06 * k, 0.95 + r.uni(-0.01, 0.01), 0.026, 0.022, 0.3, false, 0.8);
  B.soft(0.5, -0.05, 0.5, 1.05, 0.15);
}

void layout_elbow(Builder& B) {
  Rng& r = B.rng;
  // distal humerus from the top, flaring into condyles
  B.S.humerus = B.tube(0.5, -0.15, 0.5, 0.40, 0.05, 0.06, 0.0, 0.55);
  B.blob(0.5, 0.44, 0.12, 0.045, 0.0, true);  // condyles (trochlea + capitellum)
  // radius: head + neck + shaft; ulna with the olecranon behind the humerus
  double ry = 0.52 + r.uni(0.0, 0.02);
  B.tube(0.43, ry, 0.42, 1.15, 0.03, 0.032, 0.7, 0.0);
  B.tube(0.57, ry - 0.04, 0.58, 1.15, 0.04, 0.028, 0.6, 0.0);
  B.blob(0.58, ry - 0.1, 0.04, 0.06, 0.3, true, 0.9);  // olecranon
  B.soft(0.5, -0.1, 0.5, 0.45, 0.16);
  B.soft(0.5, 0.45, 0.5, 1.1, 0.15);
}

void layout_humerus(Builder& B) {
  Rng& r = B.rng;
  B.S.humerus = B.tube(0.5, 0.12, 0.5 + r.uni(-0.02, 0.02), 0.86, 0.042, 0.046, 0.6, 0.5);
  B.S.humerus_head = B.blob(0.47, 0.08, 0.085, 0.08, 0.0, true);
  B.S.humerus_condyles = B.blob(0.5, 0.9, 0.11, 0.04, 0.0, false);
  B.blob(0.33, 0.07, 0.025, 0.07, 0.0, false, 0.8);  // glenoid
  B.soft(0.5, 0.0, 0.5, 1.0, 0.17);
}

void layout_shoulder(Builder& B) {
  Rng& r = B.rng;
  B.S.humerus_head = B.blob(0.55, 0.42, 0.1, 0.095, 0.0, true);
  B.S.humerus = B.tube(0.57, 0.46, 0.6, 1.15, 0.055, 0.05, 0.5, 0.0);
  B.blob(0.41, 0.43, 0.03, 0.085, 0.1, false, 0.9);  // glenoid
  // clavicle: a gently S-curved tube in two parts, acromion
  double cy = 0.18 + r.uni(-0.02, 0.02);
  B.tube(0.02, cy + 0.06, 0.32, cy + 0.02, 0.03, 0.028, 0.2, 0.1);
  B.tube(0.32, cy + 0.02, 0.6, cy + 0.07, 0.028, 0.026, 0.1, 0.3);
  B.blob(0.62, 0.28, 0.07, 0.03, 0.3, false, 0.8);  // acromion
  // scapula: a flat triangle of low density with denser borders
  std::vector<cv::Point> tri;
  for (auto q : {cv::Point2d(0.38, 0.30), cv::Point2d(0.40, 0.55), cv::Point2d(0.12, 0.85),
                 cv::Point2d(0.10, 0.32)}) {
    cv::Point2d m = B.L.map(q.x, q.y);
    tri.emplace_back(int(std::lround(m.x)), int(std::lround(m.y)));
  }
  B.S.flat.push_back(tri);
  B.tube(0.40, 0.52, 0.13, 0.84, 0.012, 0.01, 0.0, 0.0, false, 0.6);  // lateral border
  // ribs: faint arcs
  for (int k = 0; k < 4; ++k) {
    double y = 0.45 + 0.16 * k;
    B.tube(-0.05, y + 0.1, 0.12, y + 0.02, 0.014, 0.014, 0.0, 0.0, false, 0.45);
    B.tube(0.12, y + 0.02, 0.3, y + 0.01, 0.014, 0.014, 0.0, 0.0, false, 0.45);
  }
  B.soft(0.62, 0.35, 0.66, 1.1, 0.2);
  B.soft(0.0, 0.45, 0.4, 0.45, 0.35);
  B.soft(0.1, 0.2, 0.6, 0.3, 0.12);
}

void build_scene(SynthRegion region, Builder& B) {
  switch (region) {
    case SynthRegion::kFingers: layout_hand(B, 0.62, true, false); break;
    case SynthRegion::kWrist: layout_hand(B, 0.34, false, true); break;
    case SynthRegion::kForearm: layout_forearm(B); break;
    case SynthRegion::kElbow: layout_elbow(B); break;
    case SynthRegion::kHumerus: layout_humerus(B); break;
    case SynthRegion::kShoulder: layout_shoulder(B); break;
  }
}

// Axial range where a fracture may sit on a tube, by region (fractions of its length).
void fracture_range(SynthRegion region, const Prim& p, double& lo, double& hi) {
  lo = 0.15, hi = 0.85;
  if (p.kind == kBlob) lo = -0.5, hi = 0.5;
  if (region == SynthRegion::kWrist && p.kind == kTube) lo = 0.05, hi = 0.25;  // distal radius/ulna
}

bool inside(const cv::Rect2d& r, double size, double frac) {
  cv::Rect2d img(0, 0, size, size);
  double a = r.area();
  return a > 0 && (r & img).area() >= frac * a;
}


}  // namespace fracture::synth
