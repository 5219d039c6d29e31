// Internal to the synthetic generator (synth_anatomy.cpp draws, synth_render.cpp renders): the
// random stream, difficulty knobs, bone primitives, fractures and the scene of one radiograph.
// Not a public API: synth.h is.
//
//   fracture::synth::Rng rng(seed);
//   fracture::synth::Scene scene;
//   fracture::synth::Layout L{/*size=*/256, 0, 0, /*scale=*/1, /*rot=*/0, /*mirror=*/1, 0, 0};
//   fracture::synth::Builder B{L, scene, rng};
//   fracture::synth::build_scene(fracture::SynthRegion::kWrist, B);   // prims, soft tissue, targets
#pragma once
#include <opencv2/core.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fracture/data/synth.h"

namespace fracture::synth {

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


/// The knobs of difficulty easy, medium or hard (anything else).
Difficulty difficulty_of(const std::string& d);

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


/// The local frame of a primitive.
Frame frame_of(const Prim& p);
/// Radius of tube p (axis length len) at u px from its end a, flares included.
double tube_radius(const Prim& p, double len, double u);
/// Adds the projected density of p (with fracture fr when given) to D.
void draw_prim(cv::Mat& D, const Prim& p, const Fracture* fr);
/// Half the bone's width across its axis at u.
double half_width_at(const Prim& p, const Frame& f, double u);
/// The box (render px) around a fracture's lines and displaced fragment.
cv::Rect2d fracture_box(const Prim& p, const Fracture& fr);

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


/// Lays out the bones and soft tissue of `region` into B's scene.
void build_scene(SynthRegion region, Builder& B);
/// Where along prim p (fraction of its length or radius) a fracture of `region` may sit.
void fracture_range(SynthRegion region, const Prim& p, double& lo, double& hi);
/// True when at least `frac` of box r lies inside the size x size render.
bool inside(const cv::Rect2d& r, double size, double frac);

}  // namespace fracture::synth
