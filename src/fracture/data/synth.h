// Synthetic radiographs: the project's embedded default dataset (public datasets cannot be
// downloaded everywhere). Draws upper-limb radiographs of six regions (fingers, wrist, forearm,
// elbow, humerus, shoulder) with tubular bones (bright cortex, darker medulla), joints, a
// soft-tissue envelope, fractures (lucent lines, displaced, angulated, comminuted or hairline, with
// soft-tissue swelling over the site),
// distractors (metal hardware, L/R markers, collimation edges) and acquisition variation.
//
//   fracture::SynthOptions opt;              // n, imgsz, seed, difficulty, bits, ...
//   opt.n = 300; opt.imgsz = 128; opt.seed = 7;
//   fracture::SynthSummary s = fracture::write_synth(opt, "synthetic", *log);
//   // synthetic/data.yaml, images/{train,val,test}/*.png, labels/..., classification.csv, README.md
//
//   // In memory (benchmarks, tests): one image and its boxes, no files.
//   std::vector<fracture::SynthPlanItem> plan = fracture::plan_synth(opt);
//   fracture::SynthSample x = fracture::render_synth(opt, plan[0]);  // x.image CV_32FC1 in [0, 1]
//
// Determinism: image i depends only on (seed, i, options), through its own std::mt19937_64, so
// generation runs on several threads and the files are byte-identical for any thread count.
// Box convention: YOLO normalised (cls, cx, cy, w, h) relative to the output image, as in dataset.h.
#pragma once
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fracture/core/log.h"
#include "fracture/data/dataset.h"

namespace fracture {

/// Version of the generator's drawing rules; bumped whenever the same seed gives different images.
constexpr int kSynthVersion = 2;

/// The 7 detection classes, in order (the common bone-fracture detection set). Class 4 `humerus`
/// is an anatomy label, not a fracture; every other class is a fracture class.
const std::vector<std::string>& synth_class_names();
constexpr int kSynthHumerusClass = 4;

/// Anatomical regions; each patient has one.
enum class SynthRegion { kFingers = 0, kWrist, kForearm, kElbow, kHumerus, kShoulder };
const char* synth_region_name(SynthRegion r);
/// The fracture class drawn on a region (fingers -> 1 `fingers positive`, ..., shoulder -> 5).
int synth_fracture_class(SynthRegion r);

struct SynthOptions {
  int n = 1200;                   ///< number of images
  int imgsz = 224;                ///< square output size, pixels (16..4096)
  uint64_t seed = 0;              ///< all randomness derives from it
  std::string difficulty = "medium";  ///< easy, medium, hard: fracture subtlety, noise, distractors
  int bits = 8;                   ///< PNG bit depth: 8 or 16
  bool dicom = false;             ///< also write DICOM files under dicom/{split}/ (needs write_dicom)
  int images_per_patient = 3;     ///< mean images per patient (uniform on 1..2k-1)
  double fracture_rate = 0.5;     ///< probability that an image shows at least one fracture
  int threads = 2;                ///< worker threads; the output does not depend on it
};

/// Checks ranges and names; throws fracture::Error naming the key and what was expected.
void validate(const SynthOptions& opt);

/// One planned image: who and where. Planning is sequential and cheap; rendering is per image.
struct SynthPlanItem {
  int index = 0;           ///< 0-based image index
  std::string patient_id;  ///< P00001, ...
  SynthRegion region = SynthRegion::kFingers;
  std::string split;       ///< train, val, test (a patient's images all share one split)
};

/// Patients (mean images_per_patient images each, one region each, regions cycled so all six
/// appear), split by patient about 70/15/15 of the images.
std::vector<SynthPlanItem> plan_synth(const SynthOptions& opt);

struct SynthSample {
  cv::Mat image;           ///< CV_32FC1, imgsz x imgsz, in [0, 1]; brighter = denser
  std::vector<Box> boxes;  ///< fracture boxes (and `humerus` anatomy boxes), YOLO normalised
  int label = 0;           ///< 1 when any box is of a fracture class (not class 4)
  SynthRegion region = SynthRegion::kFingers;
};

/// What render_synth draws of the fractures. Tests only (synth_test.cpp ties the labels to the
/// pixels): every combination consumes the same random numbers, so images differ only in these parts.
struct SynthRenderParts {
  bool fractures = true;     ///< false: every bone intact and no swelling (boxes and labels unchanged)
  bool displacement = true;  ///< false: the lines without the distal fragment's shift, gap and angulation
  bool swelling = true;      ///< false: no soft-tissue swelling over the fractures
};

/// Renders image `item.index` (deterministic in seed, index and options).
SynthSample render_synth(const SynthOptions& opt, const SynthPlanItem& item, const SynthRenderParts& parts = {});

/// Image label from boxes: 1 when any box has a fracture class (every class except 4 `humerus`).
int synth_label(const std::vector<Box>& boxes);

struct SynthSummary {
  int images = 0, fractured = 0, patients = 0;
  std::vector<int> per_split = {0, 0, 0};   ///< train, val, test
  std::vector<int> per_class = std::vector<int>(7, 0);  ///< box counts
};

/// Writes the dataset to `out` (layout in the file comment). `out` must be missing, empty, or a
/// previous synth output (marked by `.fracture-synth`), whose generated files are replaced;
/// anything else is refused with an error. Files are written atomically.
SynthSummary write_synth(const SynthOptions& opt, const std::filesystem::path& out, Logger& log);

}  // namespace fracture
