// Synthetic dataset planning (patients, regions, splits) and writing (see synth.h).
#include "fracture/data/synth.h"

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fracture/core/error.h"
#include "fracture/core/rng.h"
#include "fracture/core/fs.h"
#include "fracture/data/dicom.h"

namespace fracture {

namespace {

const char* kMarker = ".fracture-synth";
const char* kSplits[3] = {"train", "val", "test"};
const char* kBodyPart[6] = {"HAND", "WRIST", "FOREARM", "ELBOW", "HUMERUS", "SHOULDER"};  // by SynthRegion


std::string image_stem(const SynthPlanItem& it) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s_%06d", it.patient_id.c_str(), it.index);
  return buf;
}

cv::Mat quantise(const cv::Mat& f01, int bits) {
  cv::Mat m;
  if (bits == 16)
    f01.convertTo(m, CV_16U, 65535.0);
  else
    f01.convertTo(m, CV_8U, 255.0);
  return m;
}

std::string png_bytes(const cv::Mat& m) {
  std::vector<uchar> buf;
  FRACTURE_CHECK(cv::imencode(".png", m, buf), "synth: PNG encoding failed");
  return std::string(buf.begin(), buf.end());
}

std::string label_text(const std::vector<Box>& boxes) {
  std::string s;
  char line[128];
  for (const auto& b : boxes) {
    std::snprintf(line, sizeof(line), "%d %.6f %.6f %.6f %.6f\n", b.cls, b.cx, b.cy, b.w, b.h);
    s += line;
  }
  return s;
}

// `out` must be missing, empty, or a previous synth output holding only what synth writes.
void prepare_out(const fs::path& out) {
  if (!fs::exists(out)) return;
  FRACTURE_CHECK(fs::is_directory(out), "synth: out=", out.string(), " exists and is not a folder");
  if (fs::is_empty(out)) return;
  FRACTURE_CHECK(fs::exists(out / kMarker), "synth: out=", out.string(),
                 " is not empty and is not a previous `fracture synth` output (no ", kMarker,
                 "); choose an empty or new folder");
  const std::set<std::string> ours = {kMarker, "data.yaml", "images", "labels", "dicom", "classification.csv",
                                      "README.md", "args.yaml"};
  for (const auto& e : fs::directory_iterator(out)) {
    std::string name = e.path().filename().string();
    FRACTURE_CHECK(ours.count(name) || name.find(".tmp") != std::string::npos,
                   "synth: out=", out.string(), " is a previous synth output but also holds '", name,
                   "', which synth did not write; refusing to replace it");
  }
  for (const char* d : {"images", "labels", "dicom"}) fs::remove_all(out / d);
}

}  // namespace

void validate(const SynthOptions& o) {
  FRACTURE_CHECK(o.n >= 1 && o.n <= 10'000'000, "synth: n must be between 1 and 10000000, got ", o.n);
  FRACTURE_CHECK(o.imgsz >= 16 && o.imgsz <= 4096, "synth: imgsz must be between 16 and 4096 pixels, got ", o.imgsz);
  FRACTURE_CHECK(o.difficulty == "easy" || o.difficulty == "medium" || o.difficulty == "hard",
                 "synth: difficulty must be easy, medium or hard, got '", o.difficulty, "'");
  FRACTURE_CHECK(o.bits == 8 || o.bits == 16, "synth: bits must be 8 or 16, got ", o.bits);
  FRACTURE_CHECK(o.images_per_patient >= 1 && o.images_per_patient <= 1000,
                 "synth: images_per_patient must be between 1 and 1000, got ", o.images_per_patient);
  FRACTURE_CHECK(o.fracture_rate >= 0 && o.fracture_rate <= 1, "synth: fracture_rate must be in [0, 1], got ",
                 o.fracture_rate);
  FRACTURE_CHECK(o.threads >= 1 && o.threads <= 256, "synth: threads (workers) must be between 1 and 256, got ",
                 o.threads);
}

std::vector<SynthPlanItem> plan_synth(const SynthOptions& opt) {
  validate(opt);
  std::mt19937_64 rng(splitmix64(opt.seed ^ 0xA5A5A5A5ull));
  auto uni = [&] { return double(rng() >> 11) * (1.0 / 9007199254740992.0); };
  // regions cycle through a seeded permutation so every region appears
  int perm[6] = {0, 1, 2, 3, 4, 5};
  for (int i = 5; i > 0; --i) std::swap(perm[i], perm[int(rng() % uint64_t(i + 1))]);
  struct Patient {
    int first = 0, count = 0;
    SynthRegion region;
    std::string split;
  };
  std::vector<Patient> patients;
  int total = 0;
  const int k = opt.images_per_patient;
  while (total < opt.n) {
    Patient p;
    p.first = total;
    p.count = std::min(opt.n - total, 1 + int(uni() * (2 * k - 1)));  // uniform 1..2k-1, mean k
    p.region = SynthRegion(perm[patients.size() % 6]);
    total += p.count;
    patients.push_back(p);
  }
  // splits by patient: shuffle patients, fill train to 70% of images, val to 85%, rest test
  std::vector<int> order(patients.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  int cum = 0;
  for (int idx : order) {
    Patient& p = patients[idx];
    p.split = cum < 0.70 * opt.n ? "train" : cum < 0.85 * opt.n ? "val" : "test";
    cum += p.count;
  }
  // Tiny sets: give val (from 2 patients) and test (from 3) at least one patient each, taken from the
  // end of the order, so every listed split has images. Larger sets already have all three.
  auto has_split = [&](const char* s) {
    for (const auto& p : patients)
      if (p.split == s) return true;
    return false;
  };
  if (patients.size() >= 3 && !has_split("test")) patients[order.back()].split = "test";
  if (patients.size() >= 2 && !has_split("val")) {
    for (size_t i = order.size(); i-- > 1;)
      if (patients[order[i]].split == "train") {
        patients[order[i]].split = "val";
        break;
      }
  }
  std::vector<SynthPlanItem> plan(opt.n);
  for (size_t pi = 0; pi < patients.size(); ++pi) {
    char id[16];
    std::snprintf(id, sizeof(id), "P%05d", int(pi + 1));
    for (int j = 0; j < patients[pi].count; ++j) {
      SynthPlanItem& it = plan[patients[pi].first + j];
      it.index = patients[pi].first + j;
      it.patient_id = id;
      it.region = patients[pi].region;
      it.split = patients[pi].split;
    }
  }
  return plan;
}

SynthSummary write_synth(const SynthOptions& opt, const fs::path& out, Logger& log) {
  validate(opt);
  FRACTURE_CHECK(!opt.dicom || dicom_supported(),
                 "synth: dicom=true needs DICOM support, which this build lacks (FRACTURE_WITH_DICOM=OFF); use dicom=false");
  prepare_out(out);
  // the marker goes first, so an interrupted run can be repeated into the same folder
  write_file_atomic(out / kMarker, "fracture synth v" + std::to_string(kSynthVersion) + "\n");
  const std::vector<SynthPlanItem> plan = plan_synth(opt);
  std::vector<std::vector<Box>> boxes(plan.size());
  std::vector<int> labels(plan.size(), 0);

  // Each worker renders and writes the images i = t, t + T, ...; outputs depend only on i.
  const int T = std::max(1, std::min(opt.threads, int(plan.size())));
  std::vector<std::exception_ptr> errors(T);
  auto work = [&](int t) {
    try {
      for (size_t i = size_t(t); i < plan.size(); i += size_t(T)) {
        const SynthPlanItem& it = plan[i];
        SynthSample s = render_synth(opt, it);
        std::string stem = image_stem(it);
        cv::Mat q = quantise(s.image, opt.bits);
        write_file_atomic(out / "images" / it.split / (stem + ".png"), png_bytes(q));
        if (opt.dicom) {
          DicomWriteOptions d;
          d.patient_id = it.patient_id;
          d.body_part = kBodyPart[int(it.region)];
          d.window_center = opt.bits == 16 ? 32767.5 : 127.5;
          d.window_width = opt.bits == 16 ? 65536 : 256;
          write_dicom(out / "dicom" / it.split / (stem + ".dcm"), q, d);
        }
        write_file_atomic(out / "labels" / it.split / (stem + ".txt"), label_text(s.boxes));
        boxes[i] = s.boxes;
        labels[i] = s.label;
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < T; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);

  SynthSummary sum;
  std::set<std::string> patients;
  std::string csv = "path,label,patient_id,split\n";
  for (size_t i = 0; i < plan.size(); ++i) {
    const SynthPlanItem& it = plan[i];
    csv += "images/" + it.split + "/" + image_stem(it) + ".png," + std::to_string(labels[i]) + "," +
           it.patient_id + "," + it.split + "\n";
    sum.images++;
    sum.fractured += labels[i];
    patients.insert(it.patient_id);
    for (int s = 0; s < 3; ++s)
      if (it.split == kSplits[s]) sum.per_split[s]++;
    for (const auto& b : boxes[i]) sum.per_class[b.cls]++;
  }
  sum.patients = int(patients.size());

  const auto& names = synth_class_names();
  std::ostringstream yaml;
  yaml << "# fracture synth v" << kSynthVersion << ", seed " << opt.seed << ", difficulty " << opt.difficulty
       << "\npath: .\n";
  // A split that got no patient (only with 1-2 patients) is left out: load_yolo refuses a listed split
  // without images.
  for (int s = 0; s < 3; ++s)
    if (sum.per_split[s] > 0) yaml << kSplits[s] << ": images/" << kSplits[s] << "\n";
  yaml << "nc: " << names.size() << "\nnames: [";
  for (size_t c = 0; c < names.size(); ++c) yaml << (c ? ", " : "") << "'" << names[c] << "'";
  yaml << "]\n";

  std::ostringstream md;
  md << "# Synthetic radiographs (fracture synth)\n\n"
     << "Generated by `fracture synth` (generator version " << kSynthVersion << ", fracture " << FRACTURE_VERSION
     << "). Not real patients: drawn upper-limb radiographs for testing and demonstrations.\n\n"
     << "- seed: " << opt.seed << "\n- difficulty: " << opt.difficulty << "\n- imgsz: " << opt.imgsz
     << "\n- bits: " << opt.bits << "\n- images: " << sum.images << " (train " << sum.per_split[0] << ", val "
     << sum.per_split[1] << ", test " << sum.per_split[2] << ")\n- patients: " << sum.patients
     << " (mean images_per_patient " << opt.images_per_patient << ", splits by patient)\n- fractured images: "
     << sum.fractured << " (fracture_rate " << opt.fracture_rate << ")\n- boxes per class:";
  for (size_t c = 0; c < names.size(); ++c) md << (c ? ", " : " ") << names[c] << " " << sum.per_class[c];
  md << "\n\nLayout: data.yaml (YOLO), images/{train,val,test}/*.png, labels/{train,val,test}/*.txt "
     << "(`cls cx cy w h` normalised; empty = no box), classification.csv (`path,label,patient_id,split`, "
     << "label 1 = fractured)" << (opt.dicom ? ", dicom/{train,val,test}/*.dcm (same pixels, DICOM Secondary Capture)" : "")
     << ". Class 4 `humerus` is an anatomy box, not a fracture.\n";

  write_file_atomic(out / "data.yaml", yaml.str());
  write_file_atomic(out / "classification.csv", csv);
  write_file_atomic(out / "README.md", md.str());
  log.info("synth: wrote {} images ({} fractured, {} patients; train {}, val {}, test {}) to {}", sum.images,
           sum.fractured, sum.patients, sum.per_split[0], sum.per_split[1], sum.per_split[2], out.string());
  return sum;
}

}  // namespace fracture
