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
#include <random>

#include "fracture/core/error.h"
#include "fracture/core/rng.h"
#include "fracture/data/synth.h"

namespace fracture {

namespace {

constexpr double kPi = 3.14159265358979323846;


// Small RNG wrapper with our own conversions (std distributions differ between library versions).
struct Rng {
  std::mt19937_64 eng;
  explicit Rng(uint64_t s) : eng(s) {}
  double uni() { return double(eng() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double uni(double a, double b) { return a + (b - a) * uni(); }
  int integer(int lo, int hi) { return lo + int(eng() % uint64_t(hi - lo + 1)); }  // inclusive
  bool chance(double p) { return uni() < p; }
  double normal() {  // Box-Muller
    double u1 = std::max(uni(), 1e-300), u2 = uni();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
};

// Difficulty knobs. Widths are fractions of the bone's radius; contrast is the fraction of bone
// density removed inside a fracture line; noise is relative to brightness.
struct Difficulty {
  double width_lo, width_hi;        // lucent line width / bone radius
  double contrast_lo, contrast_hi;  // 1 = line fully lucent
  double p_displaced;               // fragment shift / separation / angulation
  double shift_max;                 // max lateral shift / radius
  double p_comminuted, p_hairline;
  double quantum_lo, quantum_hi;    // Poisson-like noise: sigma = q * sqrt(I)
  double gauss_lo, gauss_hi;        // additive Gaussian sigma
  double blur_lo, blur_hi;          // Gaussian blur sigma in output pixels
  double p_metal, p_marker, p_collimation;
  double swell_lo, swell_hi;        // soft-tissue swelling over a fracture, added density (soft tissue ~0.1-0.2)
};

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

enum PrimKind { kTube = 0, kBlob = 1 };

struct Prim {
  PrimKind kind = kTube;
  cv::Point2d a, b;        // tube: axis end points (px); blob: a = centre
  double ra = 1, rb = 1;   // tube: radius at a and b (px); blob: semi-axes along / across `angle`
  double angle = 0;        // blob orientation (rad)
  double flare_a = 0, flare_b = 0;  // tube: extra relative radius near each end (epiphysis)
  double medulla = 0.62;   // inner radius fraction (hollow part)
  double density = 1.0;    // attenuation scale
  bool fracturable = true;
};

struct Fracture {
  int prim = -1;
  double u0 = 0;           // position along the bone axis (px from a; blob: along its long axis from centre)
  int lines = 1;
  double tilt[3] = {0, 0, 0};   // line tilt from the axis perpendicular (rad)
  double offset[3] = {0, 0, 0}; // line position relative to u0 (px)
  double width = 1;        // px
  double contrast = 0.8;
  double shift = 0, gap = 0, angulation = 0;  // distal fragment: lateral px, axial px, rad
  int cls = 0;
};

// Local frame of a primitive: u along its axis (tube: from a), v across.
struct Frame {
  cv::Point2d o, du, dv;
  double len = 0;
};

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

// --- region layouts ------------------------------------------------------------------------------

struct Scene {
  std::vector<Prim> prims;
  std::vector<int> targets;        // prims a fracture may be drawn on
  std::vector<cv::Point2d> soft_a, soft_b;  // soft-tissue capsules (px)
  std::vector<double> soft_r;
  std::vector<std::vector<cv::Point>> flat;  // flat bone polygons (scapula), low density fill
  int humerus = -1;                // humerus shaft prim (for the anatomy box)
  int humerus_head = -1, humerus_condyles = -1;
};

struct Layout {
  double size;     // render px
  double cx, cy, scale, rot, mirror;
  double sx, sy;   // shift (layout units)
  cv::Point2d map(double x, double y) const {
    x = 0.5 + mirror * (x - 0.5);
    double dx = (x - 0.5) * scale, dy = (y - 0.5) * scale;
    double c = std::cos(rot), s = std::sin(rot);
    return {(0.5 + sx + c * dx - s * dy) * size, (0.5 + sy + s * dx + c * dy) * size};
  }
  double len(double l) const { return l * scale * size; }
  double ang(double a) const { return mirror * a + rot; }  // orientation of a layout direction
};

struct Builder {
  const Layout& L;
  Scene& S;
  Rng& rng;
  int tube(double ax, double ay, double bx, double by, double ra, double rb, double fa, double fb,
           bool target = true, double dens = 1.0) {
    Prim p;
    p.kind = kTube;
    p.a = L.map(ax, ay);
    p.b = L.map(bx, by);
    p.ra = L.len(ra);
    p.rb = L.len(rb);
    p.flare_a = fa;
    p.flare_b = fb;
    p.medulla = rng.uni(0.62, 0.76);
    p.density = dens * rng.uni(0.9, 1.1);
    S.prims.push_back(p);
    int i = int(S.prims.size()) - 1;
    if (target) S.targets.push_back(i);
    return i;
  }
  int blob(double x, double y, double a, double b, double angle, bool target = true, double dens = 1.0) {
    Prim p;
    p.kind = kBlob;
    p.a = L.map(x, y);
    p.ra = L.len(a);
    p.rb = L.len(b);
    // a layout direction (cos, sin) maps through mirror then rotation
    double c = std::cos(angle) * L.mirror, s = std::sin(angle);
    p.angle = std::atan2(s, c) + L.rot;
    p.medulla = rng.uni(0.5, 0.6);
    p.density = dens * rng.uni(0.85, 1.05);
    S.prims.push_back(p);
    int i = int(S.prims.size()) - 1;
    if (target) S.targets.push_back(i);
    return i;
  }
  void soft(double ax, double ay, double bx, double by, double r) {
    S.soft_a.push_back(L.map(ax, ay));
    S.soft_b.push_back(L.map(bx, by));
    S.soft_r.push_back(L.len(r));
  }
  // A chain of tubes (a finger ray): segments separated by joint gaps, starting at (x, y) going in
  // direction angle (layout, y down; -pi/2 = up).
  void ray(double x, double y, double angle, const std::vector<double>& lens, double r0, double gap,
           bool targets) {
    double dx = std::cos(angle), dy = std::sin(angle);
    double r = r0;
    for (size_t i = 0; i < lens.size(); ++i) {
      double ex = x + dx * lens[i], ey = y + dy * lens[i];
      double rr = r * (i + 1 == lens.size() ? 0.75 : 0.85);
      tube(x, y, ex, ey, r, rr, 0.45, i + 1 == lens.size() ? 0.1 : 0.35, targets);
      x = ex + dx * gap;
      y = ey + dy * gap;
      r = rr * 0.95;
    }
  }
};

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

}  // namespace

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

SynthSample render_synth(const SynthOptions& opt, const SynthPlanItem& item) {
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

  // --- fractures -------------------------------------------------------------------------------
  const bool want_fracture = rng.chance(opt.fracture_rate);
  std::vector<Fracture> fractures;
  std::vector<cv::Rect2d> frac_boxes;
  std::vector<int> frac_of(scene.prims.size(), -1);
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

  // --- attenuation map -------------------------------------------------------------------------
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
    D += m * amp;
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
    draw_prim(bone, scene.prims[i], frac_of[i] >= 0 ? &fractures[frac_of[i]] : nullptr);
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

  // --- film brightness -------------------------------------------------------------------------
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

  // --- labels ----------------------------------------------------------------------------------
  SynthSample s;
  s.image = out;
  s.region = region;
  auto add_box = [&](int cls, const cv::Rect2d& r) {
    cv::Rect2d c = r & cv::Rect2d(0, 0, R, R);
    if (c.width <= 0 || c.height <= 0) return;
    Box b;
    b.cls = cls;
    b.cx = float((c.x + 0.5 * c.width) / R);
    b.cy = float((c.y + 0.5 * c.height) / R);
    b.w = float(c.width / R);
    b.h = float(c.height / R);
    s.boxes.push_back(b);
  };
  for (size_t k = 0; k < fractures.size(); ++k) add_box(fractures[k].cls, frac_boxes[k]);
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
  s.label = synth_label(s.boxes);
  return s;
}

}  // namespace fracture
