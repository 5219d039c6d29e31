// JSON files read back by a run (its own state on resume, a stage's results) or given by a user:
// parsed, or a fracture::Error that names the file (never nlohmann's bare exception).
//
//   nlohmann::json j = fracture::read_json_file(run / "weights" / "last_state.json");
#pragma once
#include <filesystem>
#include <nlohmann/json.hpp>

namespace fracture {

/// The parsed file. Throws fracture::Error naming it when it cannot be read or is not valid JSON.
nlohmann::json read_json_file(const std::filesystem::path& f);

}  // namespace fracture
