#include "fracture/core/json_file.h"

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture {

nlohmann::json read_json_file(const std::filesystem::path& f) {
  const std::string text = read_file(f);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    FRACTURE_FAIL(f.string(), ": not valid JSON (", e.what(), "); fracture writes its files atomically, so it was ",
                  "changed or damaged outside a run");
  }
}

}  // namespace fracture
