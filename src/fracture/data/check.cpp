#include "fracture/data/check.h"

#include <algorithm>
#include <functional>
#include <iomanip>
#include <atomic>
#include <cstdio>
#include <set>
#include <sstream>
#include <thread>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"
#include "fracture/data/classification.h"
#include "fracture/data/yolo.h"

namespace fracture {
namespace fs = std::filesystem;

namespace {

// One image to decode; an image listed in several splits appears once per listing.
struct Entry {
  fs::path image;
  std::string split;
  size_t summary = 0;  // index into CheckReport::splits
  std::string patient;  // "" when unknown
};

struct NearPair {
  size_t i = 0, j = 0;  // entry indices, i < j
  int bits = 0;
};

struct Decoded {
  bool ok = false;
  std::string error;  // decode error, without the leading "path: "
  uint64_t content = 0;
  uint64_t size = 0;
  int width = 0, height = 0, bits = 0;
  std::string format;
  NearDuplicateSignature sig;  // pHash and thumbnail
  std::string patient;         // DICOM PatientID, when the listing gave none
};

IntStats stats_of(std::vector<long> v) {
  IntStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v[(v.size() - 1) / 2];
  return s;
}

std::string strip_prefix(const std::string& msg, const std::string& prefix) {
  return msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg;
}

// Folder COCO file_names are relative to: next to the json, else its images/ folder (the common
// layouts). Decided by the first image entry; the loader reports any image that is then missing.
fs::path coco_image_root(const fs::path& json) {
  fs::path dir = json.parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir / "images", ec)) return dir;
  try {
    nlohmann::json j = nlohmann::json::parse(read_file(json));
    if (j.contains("images") && j["images"].is_array() && !j["images"].empty() &&
        j["images"][0].contains("file_name") && j["images"][0]["file_name"].is_string()) {
      std::string name = j["images"][0]["file_name"].get<std::string>();
      if (!fs::exists(dir / name, ec) && fs::exists(dir / "images" / name, ec)) return dir / "images";
    }
  } catch (const nlohmann::json::exception&) {
    // Not valid JSON: let the loader report it with its own message.
  }
  return dir;
}

}  // namespace

void refuse_write_into_dataset(const fs::path& out, const fs::path& data) {
  std::error_code ec;
  fs::path root = fs::is_directory(data, ec) ? data : data.parent_path();
  if (root.empty()) root = ".";
  fs::path a = fs::weakly_canonical(fs::absolute(out), ec), b = fs::weakly_canonical(fs::absolute(root), ec);
  auto it = a.begin();
  for (auto jt = b.begin(); jt != b.end(); ++jt, ++it)
    if (it == a.end() || *it != *jt) return;
  FRACTURE_FAIL(out.string(), ": is inside the dataset folder ", root.string(),
                "; fracture never writes into a dataset. Choose a path outside it");
}

int CheckReport::errors() const {
  return int(std::count_if(findings.begin(), findings.end(), [](const Finding& f) { return f.error; }));
}

int CheckReport::warnings() const { return int(findings.size()) - errors(); }

namespace {

// 1. Loads with the regular loader (its per-item problems become error-level findings); fills the
//    report's kind, names and per-split summaries, and returns every image with its split.
std::vector<Entry> load_entries(const fs::path& data, const CheckOptions& opt, Logger& log, CheckReport& r) {
  std::error_code ec;
  std::vector<Problem> problems;
  std::vector<Entry> entries;
  const std::string ext = lower_ext(data);
  const bool is_dir = fs::is_directory(data, ec);
  if (!is_dir && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
    DetDataset ds;
    if (ext == ".json") {
      r.kind = "coco";
      ds = load_coco(data, coco_image_root(data), opt.strict, log, &problems, "train");
    } else {
      r.kind = "yolo";
      ds = load_yolo(data, opt.strict, log, &problems);
    }
    r.names = ds.names;
    for (const std::string split : {"train", "val", "test"}) {
      auto it = ds.splits.find(split);
      if (it == ds.splits.end()) continue;
      SplitSummary s;
      s.name = split;
      s.per_class.assign(ds.names.size(), 0);
      for (const DetItem& item : it->second) {
        s.images++;
        s.background += item.boxes.empty();
        for (const Box& b : item.boxes)
          if (b.cls >= 0 && size_t(b.cls) < s.per_class.size()) s.per_class[b.cls]++;
        entries.push_back({item.image, split, r.splits.size(), item.patient_id});
      }
      r.splits.push_back(s);
    }
  } else if (is_dir || ext == ".csv") {
    ClsDataset ds = is_dir ? load_class_folders(data, opt.positive, opt.strict, log, &problems)
                           : load_csv_manifest(data, opt.positive, opt.strict, log, &problems);
    r.kind = is_dir ? "class folders" : "csv";
    r.names = ds.classes;
    std::vector<std::string> order = {"train", "val", "test", ""};
    for (const std::string& split : order) {
      SplitSummary s;
      s.name = split.empty() ? "all" : split;
      s.per_class.assign(ds.classes.size(), 0);
      for (const ClsItem& item : ds.items) {
        if (item.split != split) continue;
        s.images++;
        s.background += item.label == 0;
        if (item.label >= 0 && size_t(item.label) < s.per_class.size()) s.per_class[item.label]++;
        entries.push_back({item.image, s.name, r.splits.size(), item.patient_id});
      }
      if (s.images > 0) r.splits.push_back(s);
    }
    for (const ClsItem& item : ds.items)
      FRACTURE_CHECK(std::find(order.begin(), order.end(), item.split) != order.end(), item.image.string(),
                     ": unknown split '", item.split, "'; expected train, val, test or empty");
  } else {
    FRACTURE_FAIL(data.string(), ": cannot tell the dataset type; expected a data.yaml (.yaml/.yml), a COCO json ",
                  "(.json), a class folder, or a CSV manifest (.csv)");
  }
  for (const Problem& p : problems) r.findings.push_back({true, "load", p});
  return entries;
}

// 2. Decodes and hashes every image on opt.threads threads (in strict mode the first failure, in
//    listing order, stops the check) and adds the decoded images to the split summaries.
std::vector<Decoded> decode_entries(const std::vector<Entry>& entries, const CheckOptions& opt, CheckReport& r) {
  std::vector<Decoded> dec(entries.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto work = [&]() {
    for (size_t i = next++; i < entries.size() && !stop; i = next++) {
      Decoded& d = dec[i];
      const std::string name = entries[i].image.string();
      try {
        std::string bytes = read_file(entries[i].image);
        d.content = hash_bytes(bytes);
        d.size = bytes.size();
        Image im = decode_image(bytes, name, opt.read);
        d.width = im.pixels.cols;
        d.height = im.pixels.rows;
        d.bits = im.bits;
        d.format = im.format;
        d.sig = near_duplicate_signature(im.pixels);
        d.patient = im.patient_id;
        d.ok = true;
      } catch (const std::exception& e) {  // fracture::Error, or cv::Exception / bad_alloc from OpenCV
        d.error = strip_prefix(e.what(), name + ": ");
        if (opt.strict) stop = true;
      }
    }
  };
  {
    int n_threads = std::max(1, std::min<int>(opt.threads, int(entries.size())));
    std::vector<std::thread> pool;
    for (int t = 1; t < n_threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    if (dec[i].ok || dec[i].error.empty()) continue;
    Problem p{entries[i].image, 0, "cannot decode: " + dec[i].error};
    if (opt.strict) throw Error(p.str());
    r.findings.push_back({true, "decode", p});
  }
  std::vector<std::vector<long>> widths(r.splits.size()), heights(r.splits.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!dec[i].ok) continue;
    SplitSummary& s = r.splits[entries[i].summary];
    s.decoded++;
    widths[entries[i].summary].push_back(dec[i].width);
    heights[entries[i].summary].push_back(dec[i].height);
    s.bit_depths[dec[i].bits]++;
    s.formats[dec[i].format]++;
  }
  for (size_t k = 0; k < r.splits.size(); ++k) {
    r.splits[k].width = stats_of(widths[k]);
    r.splits[k].height = stats_of(heights[k]);
  }

  return dec;
}

// 3. Exact duplicates: equal (content hash, size), confirmed byte by byte; across splits an error.
//    Returns the (lower, higher) entry pairs found, which near-duplicates skip.
std::set<std::pair<size_t, size_t>> exact_duplicates(const std::vector<Entry>& entries, const std::vector<Decoded>& dec,
                                                     const std::vector<size_t>& ok, const CheckOptions& opt,
                                                     CheckReport& r) {
  std::error_code ec;
  std::set<std::pair<size_t, size_t>> exact;  // (lower, higher) entry index pairs already reported
  for (size_t a = 0; a < ok.size(); ++a) {
    for (size_t b = a + 1; b < ok.size() && dec[ok[b]].content == dec[ok[a]].content && dec[ok[b]].size == dec[ok[a]].size;
         ++b) {
      size_t i = std::min(ok[a], ok[b]), j = std::max(ok[a], ok[b]);
      const bool same_path = fs::equivalent(entries[i].image, entries[j].image, ec);
      if (!same_path && !same_file_bytes(entries[i].image, entries[j].image)) continue;  // hash collision
      exact.insert({i, j});
      const bool cross = entries[i].split != entries[j].split;
      std::string what = same_path ? "the same file is listed in " : "byte-identical to " + entries[i].image.string() + " in ";
      std::string msg = cross ? what + "split '" + entries[i].split + "' and in split '" + entries[j].split +
                                    "': the same image in two splits (leakage)"
                              : what + "split '" + entries[i].split + "' twice: duplicate image within one split";
      Problem p{entries[j].image, 0, msg};
      if (cross && opt.strict) throw Error(p.str());
      r.findings.push_back({cross, "duplicate", p});
    }
  }

  return exact;
}

// 4. Near-duplicates by perceptual hash (all pairs; 4 popcounts each, fine up to ~100k images).
std::vector<NearPair> near_duplicates(const std::vector<Entry>& entries, const std::vector<Decoded>& dec,
                                      const std::vector<size_t>& ok, const std::set<std::pair<size_t, size_t>>& exact,
                                      const CheckOptions& opt, CheckReport& r) {
  std::vector<NearPair> pairs;
  if (opt.near_duplicate_bits >= 0) {
    for (size_t a = 0; a < ok.size(); ++a) {
      for (size_t b = a + 1; b < ok.size(); ++b) {
        size_t i = std::min(ok[a], ok[b]), j = std::max(ok[a], ok[b]);
        if (exact.count({i, j})) continue;
        const int d = phash_pair_distance(dec[i].sig.phash, dec[j].sig.phash);
        if (d > opt.near_duplicate_bits) continue;
        const double corr = thumbnail_correlation(dec[i].sig, dec[j].sig);  // the confirmation step
        if (corr < opt.near_duplicate_correlation) continue;
        const bool cross = entries[i].split != entries[j].split;
        std::ostringstream msg;
        msg << "near-duplicate of " << entries[i].image.string() << " (split '" << entries[i].split << "'"
            << (cross ? ", split '" + entries[j].split + "'" : ", same split") << "; pHash distance " << d
            << " <= " << opt.near_duplicate_bits << ", thumbnail correlation " << std::fixed << std::setprecision(3)
            << corr << " >= " << opt.near_duplicate_correlation
            << "): same radiograph re-encoded, flipped or slightly rotated?";
        r.findings.push_back({false, "near_duplicate", Problem{entries[j].image, 0, msg.str()}});
        pairs.push_back({i, j, d});
      }
    }
  }
  return pairs;
}

// 5. One patient id in two splits: an error per patient and split pair, the id shown only as a
//    salted hash (salt: the dataset path), so reports can be shared.
std::map<std::pair<std::string, std::string>, long> patient_leakage(const std::vector<Entry>& entries,
                                                                  const std::vector<Decoded>& dec,
                                                                  const CheckReport& r, const CheckOptions& opt,
                                                                  std::vector<Finding>& findings) {
  std::map<std::string, std::map<std::string, long>> images;  // patient -> split -> images
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& id = entries[i].patient.empty() ? dec[i].patient : entries[i].patient;  // listing, else DICOM
    if (!id.empty() && entries[i].split != "all") images[id][entries[i].split]++;
  }
  std::map<std::pair<std::string, std::string>, long> count;  // (earlier, later) -> patients
  for (const auto& [patient, per_split] : images) {
    if (per_split.size() < 2) continue;
    const std::string tag = hex64(hash_bytes(r.source.string() + '\n' + patient)).substr(0, 10);
    for (size_t a = 0; a < r.splits.size(); ++a)
      for (size_t b = a + 1; b < r.splits.size(); ++b) {
        const std::string &sa = r.splits[a].name, &sb = r.splits[b].name;
        if (!per_split.count(sa) || !per_split.count(sb)) continue;
        count[{sa, sb}]++;
        Problem p{r.source, 0, "patient #" + tag + " has " + std::to_string(per_split.at(sa)) + " image(s) in split '" +
                                   sa + "' and " + std::to_string(per_split.at(sb)) + " in split '" + sb +
                                   "': the same patient in two splits (patient-level leakage)"};
        if (opt.strict) throw Error(p.str());
        findings.push_back({true, "patient_leakage", p});
      }
  }
  return count;
}

// 6. Duplicate clusters (union of byte-identical and near-duplicate links) and what each later
//    split shares with each earlier one.
void summarise_copies(const std::vector<Entry>& entries, const std::set<std::pair<size_t, size_t>>& exact,
                      const std::vector<NearPair>& near,
                      const std::map<std::pair<std::string, std::string>, long>& patients, CheckReport& r) {
  std::vector<size_t> parent(entries.size());
  for (size_t i = 0; i < parent.size(); ++i) parent[i] = i;
  std::function<size_t(size_t)> root = [&](size_t x) { return parent[x] == x ? x : parent[x] = root(parent[x]); };
  auto join = [&](size_t a, size_t b) { parent[root(a)] = root(b); };
  for (const auto& [i, j] : exact) join(i, j);
  for (const NearPair& p : near) join(p.i, p.j);
  std::vector<bool> linked(entries.size(), false);
  for (const auto& [i, j] : exact) linked[i] = linked[j] = true;
  for (const NearPair& p : near) linked[p.i] = linked[p.j] = true;
  std::map<size_t, DuplicateCluster> by_root;
  std::map<size_t, std::vector<size_t>> members;
  for (size_t i = 0; i < entries.size(); ++i)
    if (linked[i]) members[root(i)].push_back(i);
  for (auto& [rt, idx] : members) {
    if (idx.size() < 2) continue;
    DuplicateCluster c;
    for (size_t i : idx) {
      c.files.push_back(entries[i].image);
      c.splits.push_back(entries[i].split);
    }
    by_root[rt] = c;
  }
  for (const NearPair& p : near) {
    DuplicateCluster& c = by_root[root(p.i)];
    c.byte_identical = false;
    c.min_bits = c.min_bits < 0 ? p.bits : std::min(c.min_bits, p.bits);
    c.max_bits = std::max(c.max_bits, p.bits);
  }
  for (auto& [rt, c] : by_root) r.clusters.push_back(std::move(c));
  std::stable_sort(r.clusters.begin(), r.clusters.end(),
                   [](const DuplicateCluster& a, const DuplicateCluster& b) { return a.files.size() > b.files.size(); });

  // Per later image: a byte-identical / near-duplicate partner in each earlier split.
  std::map<std::pair<size_t, std::string>, int> link;  // (later entry, earlier split) -> 2 exact, 1 near
  auto mark = [&](size_t i, size_t j, int kind) {
    if (entries[i].split == entries[j].split) return;
    link[{j, entries[i].split}] = std::max(link[{j, entries[i].split}], kind);
    link[{i, entries[j].split}] = std::max(link[{i, entries[j].split}], kind);
  };
  for (const auto& [i, j] : exact) mark(i, j, 2);
  for (const NearPair& p : near) mark(p.i, p.j, 1);
  for (size_t a = 0; a < r.splits.size(); ++a)
    for (size_t b = a + 1; b < r.splits.size(); ++b) {
      SplitOverlap o;
      o.earlier = r.splits[a].name;
      o.later = r.splits[b].name;
      if (o.earlier == "all" || o.later == "all") continue;
      o.later_images = r.splits[b].decoded;
      std::set<std::string> seen;  // one image listed twice in `later` counts once
      for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].split != o.later || !seen.insert(entries[i].image.string()).second) continue;
        auto it = link.find({i, o.earlier});
        if (it == link.end()) continue;
        ++o.shared;
        (it->second == 2 ? o.byte_identical : o.near)++;
      }
      for (const DuplicateCluster& c : r.clusters)
        if (std::count(c.splits.begin(), c.splits.end(), o.earlier) && std::count(c.splits.begin(), c.splits.end(), o.later))
          ++o.clusters;
      auto pt = patients.find({o.earlier, o.later});
      o.patients = pt == patients.end() ? 0 : pt->second;
      r.overlaps.push_back(o);
    }
}

}  // namespace

CheckReport check_dataset(const fs::path& data, const CheckOptions& opt, Logger& log) {
  std::error_code ec;
  FRACTURE_CHECK(fs::exists(data, ec), data.string(), ": dataset not found; expected a data.yaml, a COCO json, ",
                 "a class folder or a CSV manifest");
  CheckReport r;
  r.source = data;
  r.near_duplicate_bits = opt.near_duplicate_bits;
  r.near_duplicate_correlation = opt.near_duplicate_correlation;
  const std::vector<Entry> entries = load_entries(data, opt, log, r);
  const std::vector<Decoded> dec = decode_entries(entries, opt, r);
  // Decoded images, ordered by (content hash, size) so exact duplicates are neighbours.
  std::vector<size_t> ok;
  for (size_t i = 0; i < entries.size(); ++i)
    if (dec[i].ok) ok.push_back(i);
  std::stable_sort(ok.begin(), ok.end(), [&](size_t a, size_t b) {
    return std::make_pair(dec[a].content, dec[a].size) < std::make_pair(dec[b].content, dec[b].size);
  });
  const auto exact = exact_duplicates(entries, dec, ok, opt, r);
  const std::vector<NearPair> near = near_duplicates(entries, dec, ok, exact, opt, r);
  const auto patients = patient_leakage(entries, dec, r, opt, r.findings);
  summarise_copies(entries, exact, near, patients, r);
  log.debug("check: {} images, {} errors, {} warnings", entries.size(), r.errors(), r.warnings());
  return r;
}

std::string format_report(const CheckReport& r, int max_warnings) {
  std::ostringstream o;
  o << r.source.string() << ": " << r.kind << " dataset, " << r.names.size() << " class"
    << (r.names.size() == 1 ? "" : "es") << " [";
  for (size_t c = 0; c < r.names.size(); ++c) o << (c ? ", " : "") << r.names[c];
  o << "]\n";
  const bool det = r.kind == "yolo" || r.kind == "coco";
  for (const SplitSummary& s : r.splits) {
    o << "  " << s.name << ": " << s.images << " images (" << s.decoded << " decoded), " << s.background
      << (det ? " background" : " " + (r.names.empty() ? std::string("label 0") : r.names[0]));
    o << "; " << (det ? "boxes" : "images") << " per class:";
    for (size_t c = 0; c < s.per_class.size(); ++c)
      o << " " << (c < r.names.size() ? r.names[c] : std::to_string(c)) << " " << s.per_class[c];
    o << "\n    size w " << s.width.min << "/" << s.width.median << "/" << s.width.max << ", h " << s.height.min << "/"
      << s.height.median << "/" << s.height.max << " (min/median/max px); bits";
    for (const auto& [b, n] : s.bit_depths) o << " " << b << ":" << n;
    o << "; formats";
    for (const auto& [f, n] : s.formats) o << " " << f << ":" << n;
    o << "\n";
  }
  // What later splits share with earlier ones, the numbers a reviewer asks for.
  for (const SplitOverlap& v : r.overlaps)
    o << "  " << v.later << ": " << v.shared << " of " << v.later_images << " images (" << v.clusters << " cluster"
      << (v.clusters == 1 ? "" : "s") << ") also appear in " << v.earlier << " (byte-identical: " << v.byte_identical
      << "; near-duplicate: " << v.near << "); " << v.patients << " patient" << (v.patients == 1 ? "" : "s")
      << " in both\n";
  if (!r.clusters.empty()) {
    long exact_only = 0;
    for (const DuplicateCluster& c : r.clusters) exact_only += c.byte_identical;
    o << "  duplicate clusters: " << r.clusters.size() << " (" << exact_only << " byte-identical only), largest "
      << r.clusters.front().files.size() << " images\n";
  }
  // Every error is printed; other warnings up to max_warnings; near-duplicate pairs not one by one
  // but as their clusters (one line each, up to max_warnings): a set with many copies of few
  // radiographs has thousands of pairs. report=FILE has every pair and cluster.
  int shown = 0, hidden = 0;
  long near_pairs = 0;
  for (const Finding& f : r.findings) {
    if (f.kind == "near_duplicate") {
      ++near_pairs;
      continue;
    }
    if (!f.error && max_warnings >= 0 && shown >= max_warnings) {
      ++hidden;
      continue;
    }
    if (!f.error) ++shown;
    o << (f.error ? "error: " : "warning: ") << f.where.str() << "\n";
  }
  int clusters_shown = 0, near_clusters = 0;
  for (const DuplicateCluster& c : r.clusters) {
    if (c.byte_identical) continue;  // its pairs are reported above as duplicates
    ++near_clusters;
    if (max_warnings >= 0 && clusters_shown >= max_warnings) continue;
    ++clusters_shown;
    std::set<std::string> splits(c.splits.begin(), c.splits.end());
    o << "near-duplicates: " << c.files.size() << " images (split";
    o << (splits.size() == 1 ? " " : "s ");
    size_t k = 0;
    for (const auto& sp : splits) o << (k++ ? "+" : "") << sp;
    o << "; pHash " << c.min_bits << (c.max_bits != c.min_bits ? "-" + std::to_string(c.max_bits) : "") << " bits): ";
    for (size_t i = 0; i < c.files.size() && i < 6; ++i) o << (i ? ", " : "") << c.files[i].string();
    if (c.files.size() > 6) o << ", ... (" << c.files.size() - 6 << " more)";
    o << "\n";
  }
  if (hidden > 0)
    o << "... " << hidden << " more warnings not printed (report=FILE writes every finding as JSON)\n";
  if (near_clusters > clusters_shown)
    o << "... " << near_clusters - clusters_shown << " more near-duplicate clusters not printed (report=FILE lists them)\n";
  o << r.errors() << " error" << (r.errors() == 1 ? "" : "s") << ", " << r.warnings() << " warning"
    << (r.warnings() == 1 ? "" : "s") << " (" << near_pairs << " of them near-duplicate pairs, in " << near_clusters
    << " cluster" << (near_clusters == 1 ? "" : "s") << "; near-duplicates: pHash <= " << r.near_duplicate_bits
    << " bits and thumbnail correlation >= " << r.near_duplicate_correlation << ")\n";
  return o.str();
}

nlohmann::json report_json(const CheckReport& r) {
  nlohmann::json j;
  j["source"] = r.source.string();
  j["kind"] = r.kind;
  j["names"] = r.names;
  j["splits"] = nlohmann::json::array();
  for (const SplitSummary& s : r.splits) {
    nlohmann::json bits = nlohmann::json::object(), formats = nlohmann::json::object();
    for (const auto& [b, n] : s.bit_depths) bits[std::to_string(b)] = n;
    for (const auto& [f, n] : s.formats) formats[f] = n;
    j["splits"].push_back({{"name", s.name},
                           {"images", s.images},
                           {"decoded", s.decoded},
                           {"background", s.background},
                           {"per_class", s.per_class},
                           {"width", {{"min", s.width.min}, {"median", s.width.median}, {"max", s.width.max}}},
                           {"height", {{"min", s.height.min}, {"median", s.height.median}, {"max", s.height.max}}},
                           {"bit_depths", bits},
                           {"formats", formats}});
  }
  j["findings"] = nlohmann::json::array();
  for (const Finding& f : r.findings)
    j["findings"].push_back({{"severity", f.error ? "error" : "warning"},
                             {"kind", f.kind},
                             {"file", f.where.file.string()},
                             {"line", f.where.line},
                             {"message", f.where.message}});
  j["clusters"] = nlohmann::json::array();
  for (const DuplicateCluster& c : r.clusters) {
    std::vector<std::string> files;
    for (const auto& f : c.files) files.push_back(f.string());
    j["clusters"].push_back({{"files", files},
                             {"splits", c.splits},
                             {"byte_identical", c.byte_identical},
                             {"min_bits", c.min_bits},
                             {"max_bits", c.max_bits}});
  }
  j["overlaps"] = nlohmann::json::array();
  for (const SplitOverlap& v : r.overlaps)
    j["overlaps"].push_back({{"earlier", v.earlier},
                             {"later", v.later},
                             {"later_images", v.later_images},
                             {"shared", v.shared},
                             {"byte_identical", v.byte_identical},
                             {"near", v.near},
                             {"clusters", v.clusters},
                             {"patients", v.patients}});
  j["errors"] = r.errors();
  j["warnings"] = r.warnings();
  j["near_duplicate_bits"] = r.near_duplicate_bits;
  j["near_duplicate_correlation"] = r.near_duplicate_correlation;
  return j;
}

void write_check_json(const fs::path& file, const CheckReport& r) {
  write_file_atomic(file, report_json(r).dump(2) + "\n");
}

}  // namespace fracture
