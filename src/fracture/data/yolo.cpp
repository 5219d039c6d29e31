// YOLO data.yaml and COCO JSON loaders. Conventions are documented in yolo.h.
#include "fracture/data/yolo.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "fracture/core/config.h"
#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/problem_sink.h"

namespace fracture {

namespace {

constexpr double kCoordTol = 1e-3;  // normalised coordinates up to 1e-3 outside [0, 1] are clamped
// A label file over this size is refused unread (resource limit): a YOLO line is ~40 bytes, so this
// is ~400,000 boxes, where a radiograph's file holds a few.
constexpr uintmax_t kMaxLabelBytes = 16u << 20;
// Bad lines reported per label file; the file is refused after the first anyway.
constexpr int kMaxProblemsPerLabelFile = 10;

const std::set<std::string> kImageExt = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"};
// Extensions Ultralytics accepts that we cannot read: reported instead of silently ignored.
const std::set<std::string> kUnsupportedExt = {".gif", ".webp", ".heic", ".dng", ".mpo", ".pfm"};

// "data.yaml:5" for a yaml node (yaml-cpp marks are 0-based; -1 when unknown).
std::string where(const fs::path& file, const YAML::Node& n) {
  int line = n.IsDefined() ? n.Mark().line : -1;
  return line >= 0 ? file.string() + ":" + std::to_string(line + 1) : file.string();
}


std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      lines.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) {
    if (cur.back() == '\r') cur.pop_back();
    lines.push_back(cur);
  }
  return lines;
}

bool parse_double(const std::string& s, double& v) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && errno == 0 && std::isfinite(v);
}

// Class index: a non-negative integer, also accepted when written as an integral float ("1.0").
bool parse_class(const std::string& s, int& c) {
  double v = 0;
  if (!parse_double(s, v) || v < 0 || v != std::floor(v) || v > 1e9) return false;
  c = int(v);
  return true;
}

// Images under a folder, recursively, sorted; unsupported image formats are reported.
std::vector<fs::path> list_images(const fs::path& dir, ProblemSink& sink) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') continue;  // hidden files (.DS_Store, ._x.jpg)
    std::string ext = lower_ext(p);
    if (kImageExt.count(ext)) out.push_back(p);
    else if (kUnsupportedExt.count(ext))
      sink.add(p, 0, "image format " + ext + " is not supported (supported: PNG, JPEG, BMP, TIFF, DICOM); convert it");
  }
  FRACTURE_CHECK(!ec, dir.string(), ": cannot list folder: ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Folder holding the label files of images found under `image_dir` (last "images" component -> "labels").
fs::path label_dir_of(const fs::path& image_dir) {
  std::vector<std::string> parts;
  for (const auto& part : image_dir) parts.push_back(part.string());
  for (size_t i = parts.size(); i-- > 0;) {
    if (parts[i] == "images") {
      fs::path r;
      for (size_t j = 0; j < parts.size(); ++j) r /= (j == i ? std::string("labels") : parts[j]);
      return r;
    }
  }
  return image_dir;
}

struct LabelResult {
  std::vector<Box> boxes;
  bool ok = true;
};

// Parses one YOLO label file. Every bad line is reported; any bad line marks the file not ok.
LabelResult parse_label_file(const fs::path& file, int nc, ProblemSink& sink, Logger& log) {
  LabelResult r;
  std::error_code ec;
  const uintmax_t bytes = fs::file_size(file, ec);
  if (!ec && bytes > kMaxLabelBytes) {
    sink.add(file, 0, "label file of " + std::to_string(bytes) + " bytes is over the limit of " +
                          std::to_string(kMaxLabelBytes >> 20) + " MiB (about 400,000 boxes): not a YOLO label file?");
    r.ok = false;
    return r;
  }
  std::string text = read_file(file);
  std::vector<std::string> lines = split_lines(text);
  text.clear();
  std::set<std::array<float, 5>> seen;  // exact duplicates are dropped (O(n log n), not pairwise)
  int bad = 0;
  for (size_t li = 0; li < lines.size(); ++li) {
    const int line = int(li) + 1;
    if (bad >= kMaxProblemsPerLabelFile) {
      sink.add(file, line, "more bad lines from here on are not listed");
      break;
    }
    std::istringstream ss(lines[li]);
    std::vector<std::string> f;
    for (std::string t; ss >> t;) f.push_back(t);
    if (f.empty()) continue;
    const size_t n = f.size();
    if (!(n == 5 || (n >= 7 && n % 2 == 1))) {
      sink.add(file, line, "expected 5 fields 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 ...' (odd "
                           "count >= 7), got " + std::to_string(n) + " fields");
      ++bad;
      continue;
    }
    int cls = 0;
    if (!parse_class(f[0], cls)) {
      sink.add(file, line, "class index '" + f[0] + "' is not a non-negative integer");
      ++bad;
      continue;
    }
    if (cls >= nc) {
      sink.add(file, line, "class index " + std::to_string(cls) + " is out of range: nc = " + std::to_string(nc) +
                               " (valid 0.." + std::to_string(nc - 1) + ")");
      ++bad;
      continue;
    }
    std::vector<double> v(n - 1);
    bool good = true;
    for (size_t k = 1; k < n && good; ++k) {
      if (!parse_double(f[k], v[k - 1])) {
        sink.add(file, line, "field " + std::to_string(k + 1) + " ('" + f[k] + "') is not a finite number");
        good = false;
      } else if (v[k - 1] < -kCoordTol || v[k - 1] > 1.0 + kCoordTol) {
        sink.add(file, line, "field " + std::to_string(k + 1) + " = " + f[k] +
                                 " is outside [0, 1]; YOLO coordinates are normalised by the image size "
                                 "(pixel coordinates given?)");
        good = false;
      }
      if (good) v[k - 1] = std::clamp(v[k - 1], 0.0, 1.0);
    }
    if (!good) {
      ++bad;
      continue;
    }
    Box b;
    b.cls = cls;
    if (n == 5) {
      b.cx = float(v[0]), b.cy = float(v[1]), b.w = float(v[2]), b.h = float(v[3]);
    } else {  // polygon -> bounding box
      double x0 = 1, y0 = 1, x1 = 0, y1 = 0;
      for (size_t k = 0; k + 1 < v.size(); k += 2) {
        x0 = std::min(x0, v[k]), x1 = std::max(x1, v[k]);
        y0 = std::min(y0, v[k + 1]), y1 = std::max(y1, v[k + 1]);
      }
      b.cx = float((x0 + x1) / 2), b.cy = float((y0 + y1) / 2), b.w = float(x1 - x0), b.h = float(y1 - y0);
    }
    if (!(b.w > 0 && b.h > 0)) {
      sink.add(file, line, n == 5 ? "box width and height must be > 0" : "polygon has zero width or height");
      ++bad;
      continue;
    }
    if (!seen.insert({float(b.cls), b.cx, b.cy, b.w, b.h}).second) {
      log.debug("{}:{}: duplicate label line dropped", file.string(), line);
      continue;
    }
    r.boxes.push_back(b);
  }
  r.ok = bad == 0;
  return r;
}

std::vector<std::string> read_names(const YAML::Node& root, const fs::path& yaml) {
  const YAML::Node names = root["names"], nc_node = root["nc"];
  std::vector<std::string> out;
  if (names.IsDefined() && !names.IsNull()) {
    if (names.IsSequence()) {
      for (const auto& n : names) {
        FRACTURE_CHECK(n.IsScalar(), where(yaml, n), ": 'names' entries must be strings");
        out.push_back(n.as<std::string>());
      }
    } else if (names.IsMap()) {
      std::map<long long, std::string> byid;
      for (const auto& kv : names) {
        long long id = -1;
        try {
          id = kv.first.as<long long>();
        } catch (const YAML::Exception&) {
          FRACTURE_FAIL(where(yaml, kv.first), ": 'names' map keys must be integer class ids, got '",
                        kv.first.Scalar(), "'");
        }
        FRACTURE_CHECK(kv.second.IsScalar(), where(yaml, kv.second), ": class name for id ", id, " must be a string");
        FRACTURE_CHECK(!byid.count(id), where(yaml, kv.first), ": class id ", id, " appears twice in 'names'");
        byid[id] = kv.second.as<std::string>();
      }
      long long expect = 0;
      for (const auto& [id, name] : byid) {
        FRACTURE_CHECK(id == expect, where(yaml, names), ": 'names' ids must be 0..", byid.size() - 1,
                       " without gaps; missing id ", expect);
        out.push_back(name);
        ++expect;
      }
    } else {
      FRACTURE_FAIL(where(yaml, names), ": 'names' must be a list of class names or a map {id: name}");
    }
    FRACTURE_CHECK(!out.empty(), where(yaml, names), ": 'names' is empty; expected at least one class");
  }
  if (nc_node.IsDefined() && !nc_node.IsNull()) {
    long long nc = -1;
    try {
      nc = nc_node.as<long long>();
    } catch (const YAML::Exception&) {
      FRACTURE_FAIL(where(yaml, nc_node), ": 'nc' must be a positive integer, got '", nc_node.Scalar(), "'");
    }
    FRACTURE_CHECK(nc > 0 && nc < 100000, where(yaml, nc_node), ": 'nc' must be a positive integer, got ", nc);
    if (out.empty()) {
      for (long long i = 0; i < nc; ++i) out.push_back("class" + std::to_string(i));
    } else {
      FRACTURE_CHECK((long long)out.size() == nc, where(yaml, nc_node), ": 'nc' is ", nc, " but 'names' has ",
                     out.size(), " entries; they must agree");
    }
  }
  FRACTURE_CHECK(!out.empty(), yaml.string(), ": missing 'names' (a list or {id: name} map) and 'nc'; one is required");
  return out;
}

}  // namespace

bool is_image_file(const fs::path& p) { return kImageExt.count(lower_ext(p)) > 0; }

fs::path yolo_label_path(const fs::path& image) {
  fs::path dir = label_dir_of(image.parent_path());
  return dir / (image.stem().string() + ".txt");
}

DetDataset load_yolo(const fs::path& data_yaml, bool strict, Logger& log, std::vector<Problem>* problems) {
  std::error_code ec;
  FRACTURE_CHECK(fs::is_regular_file(data_yaml, ec), data_yaml.string(), ": dataset yaml not found");
  const std::string text = read_file(data_yaml);
  check_yaml_characters(text, data_yaml.string());
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    FRACTURE_FAIL(data_yaml.string(), ":", e.mark.line + 1, ": not valid YAML: ", e.msg);
  }
  FRACTURE_CHECK(root.IsMap(), data_yaml.string(), ": expected a YAML mapping with keys path, train, val, names");

  ProblemSink sink(strict, log, problems);
  DetDataset ds;
  ds.source = data_yaml;
  ds.names = read_names(root, data_yaml);
  const int nc = int(ds.names.size());

  fs::path base = data_yaml.parent_path();
  if (base.empty()) base = ".";
  fs::path data_root = base;
  const YAML::Node path_node = root["path"];
  if (path_node.IsDefined() && !path_node.IsNull()) {
    FRACTURE_CHECK(path_node.IsScalar(), where(data_yaml, path_node), ": 'path' must be a folder name");
    fs::path p = path_node.as<std::string>();
    data_root = p.is_absolute() ? p : base / p;
    FRACTURE_CHECK(fs::is_directory(data_root, ec), where(data_yaml, path_node), ": 'path' folder ",
                   data_root.string(), " not found (relative paths are relative to the yaml's folder)");
  }
  data_root = data_root.lexically_normal();

  std::set<fs::path> used_labels;
  std::vector<fs::path> label_dirs;  // folders searched for labels without an image
  for (const std::string split : {"train", "val", "test"}) {
    const YAML::Node node = root[split];
    const bool absent = !node.IsDefined() || node.IsNull() || (node.IsScalar() && node.Scalar().empty());
    if (absent) {
      FRACTURE_CHECK(split == "test", data_yaml.string(), ": missing key '", split, "'; expected a folder of images, ",
                     "a .txt list of image paths, or a list of those (relative to 'path')");
      continue;
    }
    std::vector<YAML::Node> entries;
    if (node.IsScalar()) entries.push_back(node);
    else if (node.IsSequence()) for (const auto& e : node) entries.push_back(e);
    else FRACTURE_FAIL(where(data_yaml, node), ": '", split, "' must be a path or a list of paths");

    std::vector<fs::path> images;
    for (const YAML::Node& e : entries) {
      FRACTURE_CHECK(e.IsScalar(), where(data_yaml, e), ": '", split, "' entries must be paths");
      fs::path p = e.as<std::string>();
      fs::path full = (p.is_absolute() ? p : data_root / p).lexically_normal();
      if (fs::is_directory(full, ec)) {
        std::vector<fs::path> found = list_images(full, sink);
        images.insert(images.end(), found.begin(), found.end());
        fs::path ld = label_dir_of(full);
        if (ld != full) label_dirs.push_back(ld);
      } else if (fs::is_regular_file(full, ec) && lower_ext(full) == ".txt") {
        std::vector<std::string> lines = split_lines(read_file(full));
        for (size_t li = 0; li < lines.size(); ++li) {
          std::string s = trim(lines[li]);
          if (s.empty()) continue;
          if (s.rfind("./", 0) == 0) s = s.substr(2);
          fs::path img = fs::path(s).is_absolute() ? fs::path(s) : (full.parent_path() / s).lexically_normal();
          if (!fs::is_regular_file(img, ec)) {
            sink.add(full, int(li) + 1, "listed image " + img.string() + " not found (relative paths are relative "
                                        "to the list's folder)");
            continue;
          }
          images.push_back(img);
        }
      } else if (fs::is_regular_file(full, ec) && is_image_file(full)) {
        images.push_back(full);
      } else {
        FRACTURE_FAIL(where(data_yaml, e), ": '", split, "' entry '", p.string(), "' not found (resolved to ",
                      full.string(), "); expected a folder of images, a .txt list of image paths, or a list of those");
      }
    }

    std::vector<DetItem>& items = ds.splits[split];
    for (const fs::path& img : images) {
      DetItem it;
      it.image = img;
      fs::path lab = yolo_label_path(img);
      if (fs::is_regular_file(lab, ec)) {
        used_labels.insert(lab.lexically_normal());
        LabelResult r = parse_label_file(lab, nc, sink, log);
        if (!r.ok) continue;  // skipped (non-strict); the problems are reported
        it.label = lab;
        it.boxes = std::move(r.boxes);
      }
      items.push_back(std::move(it));
    }
    if (items.empty()) sink.add(data_yaml, node.Mark().line + 1, "split '" + split + "' has no usable images");
    size_t nbox = 0, npos = 0;
    for (const auto& it : items) nbox += it.boxes.size(), npos += !it.boxes.empty();
    log.debug("{}: {} images ({} with boxes, {} boxes)", split, items.size(), npos, nbox);
  }

  // Label files that no image uses (only in label folders that mirror image folders).
  std::sort(label_dirs.begin(), label_dirs.end());
  label_dirs.erase(std::unique(label_dirs.begin(), label_dirs.end()), label_dirs.end());
  for (const fs::path& ld : label_dirs) {
    if (!fs::is_directory(ld, ec)) continue;
    std::vector<fs::path> orphans;
    for (auto it = fs::recursive_directory_iterator(ld, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const fs::path& p = it->path();
      if (!it->is_regular_file(ec) || lower_ext(p) != ".txt" || p.filename() == "classes.txt") continue;
      if (!used_labels.count(p.lexically_normal())) orphans.push_back(p);
    }
    std::sort(orphans.begin(), orphans.end());
    for (const fs::path& p : orphans)
      sink.add(p, 0, "label file has no image (expected an image named " + p.stem().string() +
                         ".<png|jpg|...> in the matching images folder)");
  }
  return ds;
}

DetDataset load_coco(const fs::path& json_path, const fs::path& image_root, bool strict, Logger& log,
                     std::vector<Problem>* problems, const std::string& split) {
  using nlohmann::json;
  std::error_code ec;
  FRACTURE_CHECK(fs::is_regular_file(json_path, ec), json_path.string(), ": COCO json not found");
  json j;
  // COCO nests 4 deep; deeper input is refused while parsing (resource limit), before it is built
  constexpr int kMaxDepth = 64;
  struct TooDeep {};
  try {
    j = json::parse(read_file(json_path), [&](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw TooDeep{};
      return true;
    });
  } catch (const json::exception& e) {
    FRACTURE_FAIL(json_path.string(), ": not valid JSON: ", e.what());
  } catch (const TooDeep&) {
    FRACTURE_FAIL(json_path.string(), ": JSON nested more than ", kMaxDepth,
                  " levels deep (the limit; COCO is 4 deep): not a COCO annotation file");
  }
  const std::string f = json_path.string();
  FRACTURE_CHECK(j.is_object(), f, ": expected a JSON object with images, annotations, categories");
  for (const char* key : {"images", "annotations", "categories"})
    FRACTURE_CHECK(j.contains(key) && j[key].is_array(), f, ": missing array '", key, "' (COCO detection format)");

  ProblemSink sink(strict, log, problems);
  DetDataset ds;
  ds.source = json_path;

  // Categories: class index = rank of the id.
  std::map<long long, std::string> cats;
  for (size_t i = 0; i < j["categories"].size(); ++i) {
    const json& c = j["categories"][i];
    FRACTURE_CHECK(c.is_object() && c.contains("id") && c["id"].is_number_integer() && c.contains("name") &&
                       c["name"].is_string(),
                   f, ": categories[", i, "]: expected {\"id\": integer, \"name\": string}");
    long long id = c["id"].get<long long>();
    FRACTURE_CHECK(!cats.count(id), f, ": categories[", i, "]: category id ", id, " appears twice");
    cats[id] = c["name"].get<std::string>();
  }
  FRACTURE_CHECK(!cats.empty(), f, ": 'categories' is empty; expected at least one class");
  std::map<long long, int> cat_index;
  for (const auto& [id, name] : cats) {
    cat_index[id] = int(ds.names.size());
    ds.names.push_back(name);
  }

  struct Img {
    DetItem item;
    double w = 0, h = 0;
    bool ok = true;
  };
  std::map<long long, Img> imgs;
  std::vector<long long> order;
  for (size_t i = 0; i < j["images"].size(); ++i) {
    const json& im = j["images"][i];
    const std::string at = "images[" + std::to_string(i) + "]";
    if (!(im.is_object() && im.contains("id") && im["id"].is_number_integer() && im.contains("file_name") &&
          im["file_name"].is_string() && im.contains("width") && im["width"].is_number() && im.contains("height") &&
          im["height"].is_number())) {
      sink.add(json_path, 0, at + ": expected {\"id\": integer, \"file_name\": string, \"width\": number, \"height\": number}");
      continue;
    }
    long long id = im["id"].get<long long>();
    if (imgs.count(id)) {
      sink.add(json_path, 0, at + ": image id " + std::to_string(id) + " appears twice");
      continue;
    }
    Img r;
    r.w = im["width"].get<double>(), r.h = im["height"].get<double>();
    r.item.image = (image_root / im["file_name"].get<std::string>()).lexically_normal();
    if (!(r.w > 0 && r.h > 0)) {
      sink.add(json_path, 0, at + ": width and height must be > 0");
      continue;
    }
    if (!fs::is_regular_file(r.item.image, ec)) {
      sink.add(json_path, 0, at + ": image file " + r.item.image.string() + " not found (image_root + file_name)");
      continue;
    }
    imgs[id] = std::move(r);
    order.push_back(id);
  }

  for (size_t i = 0; i < j["annotations"].size(); ++i) {
    const json& a = j["annotations"][i];
    std::string at = "annotations[" + std::to_string(i) + "]";
    if (a.is_object() && a.contains("id")) at += " (id " + a["id"].dump() + ")";
    if (!(a.is_object() && a.contains("image_id") && a["image_id"].is_number_integer() && a.contains("category_id") &&
          a["category_id"].is_number_integer() && a.contains("bbox") && a["bbox"].is_array() &&
          a["bbox"].size() == 4)) {
      sink.add(json_path, 0, at + ": expected image_id, category_id (integers) and bbox [x, y, w, h]");
      continue;
    }
    if (a.contains("iscrowd") && a["iscrowd"].is_number() && a["iscrowd"].get<double>() != 0) continue;
    long long iid = a["image_id"].get<long long>(), cid = a["category_id"].get<long long>();
    auto im = imgs.find(iid);
    if (im == imgs.end()) {
      sink.add(json_path, 0, at + ": image_id " + std::to_string(iid) + " is not in 'images' (or that image was skipped)");
      continue;
    }
    if (!cat_index.count(cid)) {
      sink.add(json_path, 0, at + ": category_id " + std::to_string(cid) + " is not in 'categories'");
      im->second.ok = false;
      continue;
    }
    double v[4];
    bool num = true;
    for (int k = 0; k < 4; ++k) {
      num = num && a["bbox"][k].is_number();
      if (num) v[k] = a["bbox"][k].get<double>();
      num = num && std::isfinite(v[k]);
    }
    if (!num) {
      sink.add(json_path, 0, at + ": bbox values must be finite numbers");
      im->second.ok = false;
      continue;
    }
    const double W = im->second.w, H = im->second.h;
    double x0 = std::clamp(v[0], 0.0, W), y0 = std::clamp(v[1], 0.0, H);
    double x1 = std::clamp(v[0] + v[2], 0.0, W), y1 = std::clamp(v[1] + v[3], 0.0, H);
    if (!(x1 > x0 && y1 > y0)) {
      sink.add(json_path, 0, at + ": bbox [" + a["bbox"].dump() + "] is empty inside the " + std::to_string(int(W)) +
                                 " x " + std::to_string(int(H)) + " image");
      im->second.ok = false;
      continue;
    }
    Box b;
    b.cls = cat_index[cid];
    b.cx = float((x0 + x1) / 2 / W), b.cy = float((y0 + y1) / 2 / H);
    b.w = float((x1 - x0) / W), b.h = float((y1 - y0) / H);
    im->second.item.boxes.push_back(b);
  }

  std::vector<DetItem>& items = ds.splits[split];
  for (long long id : order)
    if (imgs[id].ok) items.push_back(std::move(imgs[id].item));
  std::sort(items.begin(), items.end(), [](const DetItem& a, const DetItem& b) { return a.image < b.image; });
  if (items.empty()) sink.add(json_path, 0, "no usable images");
  return ds;
}

}  // namespace fracture
