// Flat configuration in the Ultralytics style: one documented default file
// (configs/default.yaml, embedded in the binary), overridden by cfg= files and key=value pairs.
//
//   fracture::Config cfg = fracture::Config::defaults();
//   cfg.set("epochs", "10", "command line");      // type-checked against the default's "(int)"
//   cfg.set("epoch", "10", "command line");       // throws: unknown key 'epoch' (did you mean 'epochs'?)
//   int epochs = cfg.integer("epochs");
//   fracture::write_run_args(run, cfg);                     // run/args.yaml (core/rundir.h)
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fracture {

/// The text of configs/default.yaml compiled into the binary.
const char* default_config_yaml();

/// One documented key of the default config.
struct KeyInfo {
  std::string name;
  std::string type;           ///< int, float, bool, str or list
  std::string default_value;  ///< as written in default.yaml ("null" when unset)
  std::string help;           ///< one-line meaning
};

class Config {
 public:
  /// Parses the embedded default config. Throws fracture::Error if it is malformed.
  static Config defaults();
  /// Parses a default-config text (tests use this).
  static Config from_text(const std::string& yaml_text, const std::string& origin);

  /// Sets one key from text. Checks the key exists (else "did you mean") and the value parses as the
  /// key's type; `origin` names where it came from for the error message ("command line", a file).
  void set(const std::string& key, const std::string& value, const std::string& origin);
  /// Applies a YAML mapping file of overrides (the cfg= key).
  void merge_file(const std::string& path);

  bool has(const std::string& key) const;   ///< key is known
  bool is_null(const std::string& key) const;
  std::string str(const std::string& key) const;          ///< "" when null
  long long integer(const std::string& key) const;
  double real(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::vector<std::string> list(const std::string& key) const;  ///< empty when null

  /// The resolved config as YAML (key order of the defaults), as saved to args.yaml.
  std::string to_yaml() const;
  const std::vector<KeyInfo>& keys() const { return keys_; }

 private:
  std::vector<KeyInfo> keys_;
  std::map<std::string, std::string> values_;  // canonical text of each value
  const KeyInfo& info(const std::string& key) const;
};

/// Closest candidate by edit distance, or "" when nothing is close (distance > max(2, len/3)).
std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates);

/// Refuses YAML text with a character YAML does not allow (YAML 1.2 section 5.1: the C0 controls
/// but tab, LF and CR, DEL, the C1 controls but NEL, U+FFFE and U+FFFF). PyYAML refuses them
/// ("unacceptable character"; checked against Debian's python3-yaml in DatasetTest); Ultralytics
/// deletes them before PyYAML reads data.yaml; yaml-cpp does neither, and dropped a NUL so that
/// `val: [<NUL>/]` became `/`. Throws fracture::Error naming path:line:column and the code point.
void check_yaml_characters(const std::string& text, const std::string& path);

}  // namespace fracture
