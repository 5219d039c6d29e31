#include "fracture/core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <regex>
#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture {
namespace {

bool parse_int(const std::string& s, long long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_real(const std::string& s, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

bool parse_bool(const std::string& s, bool* out) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), ::tolower);
  if (l == "true" || l == "1" || l == "yes") return *out = true, true;
  if (l == "false" || l == "0" || l == "no") return *out = false, true;
  return false;
}

bool is_null_text(const std::string& v) { return v == "null" || v == "~" || v.empty() || v == "None"; }

// Canonical text of a list value: YAML flow sequence "[a, b]".
std::string canonical_list(const std::string& v, const std::string& origin, const std::string& key) {
  std::vector<std::string> items;
  if (!v.empty() && v.front() == '[') {
    YAML::Node n;
    try {
      n = YAML::Load(v);
    } catch (const YAML::Exception& e) {
      FRACTURE_FAIL(origin, ": key '", key, "' expects a list like [a, b], got '", v, "'");
    }
    FRACTURE_CHECK(n.IsSequence(), origin, ": key '", key, "' expects a list like [a, b], got '", v, "'");
    for (const auto& x : n) {
      FRACTURE_CHECK(x.IsScalar(), origin, ": key '", key, "' expects a list of plain values like [a, b], got '", v,
                     "'");
      items.push_back(x.as<std::string>());
    }
  } else {
    std::stringstream ss(v);
    std::string part;
    while (std::getline(ss, part, ',')) {
      part = trim(part);
      if (!part.empty()) items.push_back(part);
    }
  }
  // written by yaml-cpp's emitter, so an item with YAML's own characters ([ ] , : # quotes) is quoted
  // and list() reads back exactly these items
  YAML::Emitter e;
  e << YAML::Flow << YAML::BeginSeq;
  for (const std::string& it : items) e << it;
  e << YAML::EndSeq;
  std::vector<std::string> back;
  if (e.good()) {
    try {
      for (const auto& x : YAML::Load(e.c_str())) back.push_back(x.as<std::string>());
    } catch (const YAML::Exception&) {
      back.clear();
    }
  }
  FRACTURE_CHECK(back == items, origin, ": key '", key, "': list items must be plain text (UTF-8), got '", v, "'");
  return e.c_str();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

void check_yaml_characters(const std::string& text, const std::string& path) {
  // YAML 1.2 section 5.1 (c-printable) and PyYAML's reader: tab, LF, CR, U+0020..U+007E, NEL U+0085,
  // U+00A0..U+D7FF, U+E000..U+FFFD, U+10000.. are allowed. Refused here: the C0 controls, DEL, the C1
  // controls (UTF-8 C2 80..C2 9F) but NEL, and the noncharacters U+FFFE, U+FFFF (EF BF BE, EF BF BF).
  // Ultralytics' yaml_load deletes them silently before PyYAML sees the text; we refuse, so that a
  // damaged file is not read as something its author did not write (a NUL item became "/").
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    auto at = [&](size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
    unsigned code = c;
    bool bad = (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
    if (c == 0xC2 && at(1) >= 0x80 && at(1) <= 0x9F && at(1) != 0x85) bad = true, code = at(1);
    if (c == 0xEF && at(1) == 0xBF && (at(2) == 0xBE || at(2) == 0xBF)) bad = true, code = 0xFFFE + (at(2) - 0xBE);
    if (bad) {
      static const char* hex = "0123456789ABCDEF";
      const std::string u = {hex[(code >> 12) & 15], hex[(code >> 8) & 15], hex[(code >> 4) & 15], hex[code & 15]};
      FRACTURE_FAIL(path, ":", line, ":", i - line_start + 1, code >= 0xFFFE ? ": noncharacter" : ": control character",
                    " U+", u, " is not allowed in YAML ",
                    "(YAML 1.2 section 5.1; PyYAML refuses it, Ultralytics deletes it unseen); remove it");
    }
    if (c == '\n') ++line, line_start = i + 1;
  }
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  size_t limit = std::max<size_t>(2, key.size() / 3);
  return best_d <= limit ? best : "";
}

Config Config::defaults() { return from_text(default_config_yaml(), "configs/default.yaml"); }

Config Config::from_text(const std::string& text, const std::string& origin) {
  // Lines are `key: value  # (type) meaning`; comments carry the schema, so parse them by hand.
  static const std::regex line_re(R"(^([A-Za-z_][A-Za-z0-9_]*):\s*([^#]*?)\s*#\s*\((int|float|bool|str|list)\)\s*(.*)$)");
  Config c;
  std::stringstream ss(text);
  std::string line;
  int lineno = 0;
  while (std::getline(ss, line)) {
    ++lineno;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    std::smatch m;
    FRACTURE_CHECK(std::regex_match(t, m, line_re), origin, ":", lineno,
                   ": expected `key: value  # (type) meaning`, got '", t, "'");
    KeyInfo k{m[1], m[3], trim(m[2].str()), trim(m[4].str())};
    FRACTURE_CHECK(!c.values_.count(k.name), origin, ":", lineno, ": duplicate key '", k.name, "'");
    c.keys_.push_back(k);
    c.values_[k.name] = "null";
    if (!is_null_text(k.default_value)) c.set(k.name, k.default_value, origin + ":" + std::to_string(lineno));
  }
  return c;
}

const KeyInfo& Config::info(const std::string& key) const {
  for (const auto& k : keys_)
    if (k.name == key) return k;
  std::vector<std::string> names;
  for (const auto& k : keys_) names.push_back(k.name);
  std::string s = did_you_mean(key, names);
  FRACTURE_FAIL("unknown key '", key, "'", s.empty() ? "" : " (did you mean '" + s + "'?)",
                "; see `fracture help` for all keys");
}

bool Config::has(const std::string& key) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](const KeyInfo& k) { return k.name == key; });
}

void Config::set(const std::string& key, const std::string& raw, const std::string& origin) {
  const KeyInfo& k = [&]() -> const KeyInfo& {
    try {
      return info(key);
    } catch (const Error& e) {
      throw Error(origin + ": " + e.what());
    }
  }();
  std::string v = trim(raw);
  if (v.size() >= 2 && ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\'')))
    v = v.substr(1, v.size() - 2);
  if (is_null_text(v)) {
    values_[key] = "null";
    return;
  }
  if (k.type == "int") {
    long long x;
    FRACTURE_CHECK(parse_int(v, &x), origin, ": key '", key, "' expects an integer, got '", v, "'");
    values_[key] = std::to_string(x);
  } else if (k.type == "float") {
    double x;
    FRACTURE_CHECK(parse_real(v, &x), origin, ": key '", key, "' expects a number, got '", v, "'");
    values_[key] = v;
  } else if (k.type == "bool") {
    bool x;
    FRACTURE_CHECK(parse_bool(v, &x), origin, ": key '", key, "' expects true or false, got '", v, "'");
    values_[key] = x ? "true" : "false";
  } else if (k.type == "list") {
    values_[key] = canonical_list(v, origin, key);
  } else {
    values_[key] = v;
  }
}

void Config::merge_file(const std::string& path) {
  std::error_code ec;
  FRACTURE_CHECK(std::filesystem::is_regular_file(path, ec), path, ": config file not found");
  const std::string text = read_file(path);
  check_yaml_characters(text, path);
  YAML::Node n;
  try {
    n = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    FRACTURE_FAIL(path, ": not a readable YAML file: ", e.what());
  }
  if (n.IsNull()) return;
  FRACTURE_CHECK(n.IsMap(), path, ": expected a mapping of key: value overrides");
  for (const auto& kv : n) {
    std::string origin = path + ":" + std::to_string(kv.first.Mark().line + 1);
    FRACTURE_CHECK(kv.first.IsScalar(), origin, ": expected a key name, got a ",
                   kv.first.IsSequence() ? "list" : "mapping");
    std::string key = kv.first.as<std::string>();
    if (kv.second.IsSequence()) {
      for (size_t i = 0; i < kv.second.size(); ++i)
        FRACTURE_CHECK(kv.second[i].IsScalar(), origin, ": key '", key, "': list item ", i + 1,
                       " is not a plain value (a list of names or numbers is expected)");
      // re-emitted, not joined: an item may need its quotes (a "]" or a control character in it)
      YAML::Emitter e;
      e << YAML::Flow << kv.second;
      set(key, e.c_str(), origin);
    } else {
      FRACTURE_CHECK(kv.second.IsScalar() || kv.second.IsNull(), origin, ": key '", key,
                     "' expects a scalar or list value");
      set(key, kv.second.IsNull() ? "null" : kv.second.as<std::string>(), origin);
    }
  }
}

bool Config::is_null(const std::string& key) const {
  info(key);
  return values_.at(key) == "null";
}

std::string Config::str(const std::string& key) const { return is_null(key) ? "" : values_.at(key); }

long long Config::integer(const std::string& key) const {
  long long x = 0;
  FRACTURE_CHECK(!is_null(key) && parse_int(values_.at(key), &x), "key '", key, "' is not set to an integer");
  return x;
}

double Config::real(const std::string& key) const {
  double x = 0;
  FRACTURE_CHECK(!is_null(key) && parse_real(values_.at(key), &x), "key '", key, "' is not set to a number");
  return x;
}

bool Config::boolean(const std::string& key) const {
  bool x = false;
  FRACTURE_CHECK(!is_null(key) && parse_bool(values_.at(key), &x), "key '", key, "' is not set to true/false");
  return x;
}

std::vector<std::string> Config::list(const std::string& key) const {
  std::vector<std::string> out;
  if (is_null(key)) return out;
  YAML::Node n = YAML::Load(values_.at(key));
  for (const auto& x : n) out.push_back(x.as<std::string>());
  return out;
}

std::string Config::to_yaml() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  for (const auto& k : keys_) {
    const std::string& v = values_.at(k.name);
    e << YAML::Key << k.name << YAML::Value;
    if (v == "null") {
      e << YAML::Null;
    } else if (k.type == "list") {
      e << YAML::Flow << YAML::Load(v);
    } else if (k.type == "str") {
      e << YAML::DoubleQuoted << v;
    } else {
      e << v;
    }
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace fracture
