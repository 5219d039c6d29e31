// Fuzz target: the config and CLI key parser (core/config.h) as main() applies them: the input up
// to the first "\n---\n" is a cfg= YAML file, each later line a key=value argument; and the whole
// input once more as a default-config text (Config::from_text). Checks: refusals name the file or
// "command line"; after every accepted override each key reads back through the getter of its
// documented type, and to_yaml() parses back to the same values.
#include "../fuzz_util.h"
#include "fracture/core/config.h"

namespace fs = std::filesystem;

static void read_all(const fracture::Config& cfg) {
  for (const fracture::KeyInfo& k : cfg.keys()) {
    if (cfg.is_null(k.name)) continue;
    if (k.type == "int") (void)cfg.integer(k.name);
    else if (k.type == "float") (void)cfg.real(k.name);
    else if (k.type == "bool") (void)cfg.boolean(k.name);
    else if (k.type == "list") (void)cfg.list(k.name);
    else (void)cfg.str(k.name);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path d = fuzz::scratch("config_keys");
  static const fracture::Config defaults = fracture::Config::defaults();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto [yaml, args] = fuzz::split_once(in, "\n---\n");
  fracture::Config cfg = defaults;
  fuzz::write(d / "over.yaml", yaml);
  bool ok = fuzz::refused_naming("over.yaml", [&] { cfg.merge_file((d / "over.yaml").string()); });
  for (std::string_view rest = args; ok && !rest.empty();) {
    auto [line, after] = fuzz::split_once(rest, "\n");
    rest = after;
    const std::string p(line);
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    ok = fuzz::refused_naming("command line", [&] { cfg.set(p.substr(0, eq), p.substr(eq + 1), "command line"); });
  }
  if (ok) {
    read_all(cfg);
    // what args.yaml records reads back as the same config
    fuzz::write(d / "args.yaml", cfg.to_yaml());
    fracture::Config again = defaults;
    again.merge_file((d / "args.yaml").string());
    if (again.to_yaml() != cfg.to_yaml()) fuzz::fail("to_yaml() does not read back to the same config");
  }
  fuzz::refused_naming("fuzz-defaults", [&] {
    fracture::Config c = fracture::Config::from_text(std::string(in), "fuzz-defaults");
    read_all(c);
  });
  return 0;
}
