// File helpers: atomic writes (temp file + rename, so a killed run never leaves a
// half-written file), whole-file reads, and content hashing.
//
//   fracture::write_file_atomic(dir / "metrics.json", json.dump(2));
//   std::string bytes = fracture::read_file(path);          // throws fracture::Error naming the path
//   uint64_t h = fracture::hash_bytes(bytes);                // FNV-1a 64, for duplicate detection
//   int n = fracture::remove_stale_temp_files(run);         // on resume: temp files of killed writes
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fracture {

namespace fs = std::filesystem;

/// Reads a whole file as bytes. Throws fracture::Error naming the path on failure.
std::string read_file(const fs::path& path);

/// Writes `content` to `path` atomically: a temp file in the same folder, flushed, then renamed.
/// Creates missing parent folders.
void write_file_atomic(const fs::path& path, std::string_view content);

/// Removes, under `dir` (recursively), the temp files write_file_atomic leaves when its process is
/// killed mid-write (<name>.tmp.<pid>.<8 hex>); returns how many. Only for a run no other process is
/// writing to (a resume; not a shard of a shared run).
int remove_stale_temp_files(const fs::path& dir);

/// True when every entry directly under `dir` is one of `names` (temp files of killed writes aside):
/// how a resume tells a run killed right after it was made from some other folder with an args.yaml.
bool only_entries(const fs::path& dir, const std::vector<std::string>& names);

/// FNV-1a 64-bit hash of bytes. Not cryptographic: equal hashes are confirmed by comparing bytes.
uint64_t hash_bytes(std::string_view bytes);

/// Lower-case hex of a 64-bit value, 16 characters.
std::string hex64(uint64_t v);

/// Lower-cased extension including the dot (".jpg"), "" when none.
std::string lower_ext(const fs::path& p);

/// `s` without leading and trailing spaces, tabs, CR and LF.
std::string trim(std::string_view s);

}  // namespace fracture
