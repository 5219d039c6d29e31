// Classification datasets: class folders, CSV manifest, labels derived from detection.
#include "fracture/data/classification.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "fracture/core/csv.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/problem_sink.h"
#include "fracture/data/yolo.h"

namespace fracture {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}


std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + ("'" + v[i] + "'");
  return s;
}

bool hidden(const fs::path& p) {
  std::string n = p.filename().string();
  return !n.empty() && n[0] == '.';
}

std::vector<std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_directory(ec) && !hidden(e.path())) out.push_back(e.path().filename().string());
  FRACTURE_CHECK(!ec, dir.string(), ": cannot list folder: ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> images_under(const fs::path& dir, ProblemSink& sink) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const fs::path& p = it->path();
    if (!it->is_regular_file(ec) || hidden(p)) continue;
    if (is_image_file(p)) out.push_back(p);
    else if (lower_ext(p) == ".gif" || lower_ext(p) == ".webp")
      sink.add(p, 0, "image format " + lower_ext(p) + " is not supported (supported: PNG, JPEG, BMP, TIFF, DICOM)");
  }
  FRACTURE_CHECK(!ec, dir.string(), ": cannot list folder: ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ClsDataset load_class_folders(const fs::path& root, const std::string& positive, bool strict, Logger& log,
                              std::vector<Problem>* problems) {
  std::error_code ec;
  FRACTURE_CHECK(fs::is_directory(root, ec), root.string(), ": class-folder dataset not found (expected a folder)");
  FRACTURE_CHECK(!positive.empty(), "positive: the positive class name must not be empty");
  ProblemSink sink(strict, log, problems);
  ClsDataset ds;
  ds.source = root;

  // Split layout (root/train/<class>/...) when every subfolder is a split name.
  std::vector<std::string> top = subfolders(root);
  bool split_layout = !top.empty();
  for (const auto& s : top) split_layout = split_layout && (s == "train" || s == "val" || s == "test");
  std::vector<std::pair<std::string, fs::path>> parts;  // (split, folder of class folders)
  if (split_layout) for (const auto& s : top) parts.push_back({s, root / s});
  else parts.push_back({"", root});

  std::set<std::string> classes;
  for (const auto& [split, dir] : parts)
    for (const auto& c : subfolders(dir)) classes.insert(c);
  std::vector<std::string> found(classes.begin(), classes.end());
  FRACTURE_CHECK(found.size() == 2, root.string(), ": expected exactly two class folders (one named '", positive,
                 "'), found ", found.size(), found.empty() ? "" : ": ", join(found));
  FRACTURE_CHECK(classes.count(positive), root.string(), ": no class folder named '", positive,
                 "' (the positive class; set positive=...), found ", join(found));
  const std::string negative = found[0] == positive ? found[1] : found[0];
  ds.classes = {negative, positive};

  for (const auto& [split, dir] : parts) {
    for (const std::string& cls : {negative, positive}) {
      if (!fs::is_directory(dir / cls, ec)) continue;
      for (const fs::path& img : images_under(dir / cls, sink)) {
        ClsItem it;
        it.image = img;
        it.label = cls == positive ? 1 : 0;
        it.split = split;
        ds.items.push_back(std::move(it));
      }
    }
    // Images lying next to the class folders belong to no class.
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file(ec) && is_image_file(e.path()) && !hidden(e.path()))
        sink.add(e.path(), 0, "image is not inside a class folder (" + join(ds.classes) + "); it has no label");
  }
  if (ds.items.empty()) sink.add(root, 0, "no images found in the class folders");
  for (int lab = 0; lab < 2; ++lab) {
    bool any = false;
    for (const auto& it : ds.items) any = any || it.label == lab;
    if (!any && !ds.items.empty()) sink.add(root / ds.classes[lab], 0, "class folder has no images");
  }
  log.debug("{}: {} images, classes {}", root.string(), ds.items.size(), join(ds.classes));
  return ds;
}

ClsDataset load_csv_manifest(const fs::path& csv, const std::string& positive, bool strict, Logger& log,
                             std::vector<Problem>* problems) {
  std::error_code ec;
  FRACTURE_CHECK(fs::is_regular_file(csv, ec), csv.string(), ": CSV manifest not found");
  FRACTURE_CHECK(!positive.empty(), "positive: the positive class name must not be empty");
  std::vector<csv::Record> rows = csv::parse(read_file(csv), csv.string(), /*trim_unquoted=*/true);
  FRACTURE_CHECK(!rows.empty(), csv.string(), ": empty CSV; expected a header row 'path,label[,patient_id][,split]'");

  // Header: column name -> index.
  const csv::Record& head = rows[0];
  std::map<std::string, size_t> col;
  for (size_t k = 0; k < head.fields.size(); ++k) {
    std::string name = lower(trim(head.fields[k]));
    FRACTURE_CHECK(!col.count(name), csv.string(), ":", head.line, ": column '", name, "' appears twice in the header");
    col[name] = k;
  }
  for (const char* need : {"path", "label"})
    FRACTURE_CHECK(col.count(need), csv.string(), ":", head.line, ": header has no '", need,
                   "' column; expected a header row 'path,label[,patient_id][,split]', got '",
                   [&] {
                     std::string s;
                     for (size_t k = 0; k < head.fields.size(); ++k) s += (k ? "," : "") + head.fields[k];
                     return s;
                   }(),
                   "'");
  for (const auto& [name, k] : col)
    if (name != "path" && name != "label" && name != "patient_id" && name != "split")
      log.debug("{}: column '{}' ignored", csv.string(), name);

  ProblemSink sink(strict, log, problems);
  ClsDataset ds;
  ds.source = csv;
  fs::path base = csv.parent_path();
  std::string negative;  // the one non-positive class name, when labels are names
  int negative_line = 0;
  std::map<fs::path, int> seen;
  for (size_t r = 1; r < rows.size(); ++r) {
    const csv::Record& row = rows[r];
    if (row.fields.size() != head.fields.size()) {
      sink.add(csv, row.line, "expected " + std::to_string(head.fields.size()) + " fields (as in the header), got " +
                                  std::to_string(row.fields.size()));
      continue;
    }
    const std::string p = row.fields[col["path"]];
    const std::string lab = trim(row.fields[col["label"]]);
    if (p.empty()) {
      sink.add(csv, row.line, "empty path");
      continue;
    }
    ClsItem it;
    it.image = fs::path(p).is_absolute() ? fs::path(p) : (base / p).lexically_normal();
    if (lab == "0" || lab == "1") {
      it.label = lab == "1";
    } else if (lab == positive) {
      it.label = 1;
    } else if (lab.empty() || std::isdigit(static_cast<unsigned char>(lab[0])) || lab[0] == '-') {
      sink.add(csv, row.line, "label '" + lab + "': expected 0, 1 or a class name ('" + positive + "' = 1)");
      continue;
    } else {
      if (negative.empty()) negative = lab, negative_line = row.line;
      FRACTURE_CHECK(lab == negative, csv.string(), ":", row.line, ": third class name '", lab, "'; exactly two ",
                     "classes are allowed: '", positive, "' (positive) and '", negative, "' (first seen at line ",
                     negative_line, ")");
      it.label = 0;
    }
    if (col.count("patient_id")) it.patient_id = trim(row.fields[col["patient_id"]]);
    if (col.count("split")) {
      it.split = lower(trim(row.fields[col["split"]]));
      if (!(it.split.empty() || it.split == "train" || it.split == "val" || it.split == "test")) {
        sink.add(csv, row.line, "split '" + it.split + "': expected train, val, test or empty");
        continue;
      }
    }
    if (!fs::is_regular_file(it.image, ec)) {
      sink.add(csv, row.line, "image " + it.image.string() + " not found (paths are relative to the CSV's folder)");
      continue;
    }
    auto [pos, fresh] = seen.insert({it.image, row.line});
    if (!fresh) {
      sink.add(csv, row.line, "image " + p + " is listed twice (first at line " + std::to_string(pos->second) + ")");
      continue;
    }
    ds.items.push_back(std::move(it));
  }
  ds.classes = {negative.empty() ? std::string("not_fractured") : negative, positive};
  if (ds.items.empty()) sink.add(csv, 0, "no usable rows");
  log.debug("{}: {} images", csv.string(), ds.items.size());
  return ds;
}

std::vector<bool> fracture_class_mask(const DetDataset& det, const std::vector<std::string>& fracture_classes) {
  std::vector<bool> counts(det.names.size(), false);
  if (fracture_classes.empty()) {
    for (size_t c = 0; c < det.names.size(); ++c) {
      std::string n = lower(det.names[c]);
      counts[c] = n.find("fracture") != std::string::npos || n.find("positive") != std::string::npos;
    }
    FRACTURE_CHECK(std::find(counts.begin(), counts.end(), true) != counts.end(), det.source.string(),
                   ": no class name contains 'fracture' or 'positive'; set fracture_classes to some of: ",
                   join(det.names));
  } else {
    for (const std::string& want : fracture_classes) {
      auto it = std::find(det.names.begin(), det.names.end(), want);
      FRACTURE_CHECK(it != det.names.end(), "fracture_classes: unknown class '", want, "' in ", det.source.string(),
                     "; valid: ", join(det.names));
      counts[size_t(it - det.names.begin())] = true;
    }
  }
  return counts;
}

ClsDataset cls_from_detection(const DetDataset& det, const std::string& split,
                              const std::vector<std::string>& fracture_classes) {
  std::vector<std::string> splits;
  for (const auto& [name, items] : det.splits) splits.push_back(name);
  auto sp = det.splits.find(split);
  FRACTURE_CHECK(sp != det.splits.end(), det.source.string(), ": no split '", split, "'; available: ", join(splits));

  const std::vector<bool> counts = fracture_class_mask(det, fracture_classes);

  ClsDataset ds;
  ds.source = det.source;
  for (const DetItem& d : sp->second) {
    ClsItem it;
    it.image = d.image;
    it.patient_id = d.patient_id;
    it.split = split;
    for (const Box& b : d.boxes)
      if (b.cls >= 0 && size_t(b.cls) < counts.size() && counts[size_t(b.cls)]) it.label = 1;
    ds.items.push_back(std::move(it));
  }
  return ds;
}

ClsDataset load_classification(const fs::path& path, const std::string& positive, bool strict, Logger& log,
                               std::vector<Problem>* problems, const std::vector<std::string>& fracture_classes) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_class_folders(path, positive, strict, log, problems);
  FRACTURE_CHECK(fs::exists(path, ec), path.string(), ": dataset not found");
  const std::string ext = lower_ext(path);
  if (ext == ".csv") return load_csv_manifest(path, positive, strict, log, problems);
  if (ext == ".yaml" || ext == ".yml") {
    DetDataset det = load_yolo(path, strict, log, problems);
    ClsDataset out;
    out.source = path;
    for (const char* s : {"train", "val", "test"}) {
      if (!det.splits.count(s)) continue;
      ClsDataset part = cls_from_detection(det, s, fracture_classes);
      out.items.insert(out.items.end(), part.items.begin(), part.items.end());
    }
    return out;
  }
  FRACTURE_FAIL(path.string(), ": cannot tell the dataset format; expected a class folder, a .csv manifest or a ",
                "YOLO data.yaml (COCO json: import with load_coco and derive labels with cls_from_detection)");
}

}  // namespace fracture
