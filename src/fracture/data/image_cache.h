// Decoded images kept between epochs (key `cache`, as Ultralytics users know it): the grey pixels
// read and resized for the model (8/16-bit, before the float conversion, CLAHE and augmentation),
// so an epoch after the first decodes no JPEG/PNG/DICOM again. Batches are bit-identical with and
// without it: only the decode-and-resize step is memoised.
//
//   auto cache = fracture::ImageCache::make("ram", project / ".cache");   // nullptr for "false"
//   fracture::CachedImage im = cache->get(path, "imgsz=128 letterbox", [&] { return decode_and_resize(path); });
//   std::printf("%zu hits, %zu misses, %.1f MiB\n", cache->hits(), cache->misses(), cache->bytes() / 1048576.0);
//
// ram: an in-process map, path + parameters -> pixels; ram_bytes_needed() and check_ram_fits() give
// the estimate a run checks before it starts (refused, with the numbers, when it would not fit in
// half of MemAvailable). disk: one file per image under `dir` (the run's project/.cache/images,
// never the dataset folder), keyed by path, parameters, file size and modification time, written
// atomically; a later run with the same images and sizes reads them back.
#pragma once
#include <opencv2/core.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace fracture {

/// One image as the loader's resize step leaves it.
struct CachedImage {
  cv::Mat pixels;         ///< CV_8UC1 or CV_16UC1, resized
  int bits = 8;           ///< the scale to_float01 uses
  int src_w = 0, src_h = 0;  ///< size in the file (EXIF orientation applied)
};

class ImageCache {
 public:
  enum class Mode { ram, disk };
  /// mode "ram", "disk", or "false" / "off" / "" (nullptr: no cache); `disk_dir` is used by disk.
  /// Throws fracture::Error naming the key for another value.
  static std::shared_ptr<ImageCache> make(const std::string& mode, const std::filesystem::path& disk_dir);

  ImageCache(Mode mode, std::filesystem::path disk_dir);
  Mode mode() const { return mode_; }

  /// The cached image of (path, params), or make()'s result, stored for the next call.
  CachedImage get(const std::filesystem::path& path, const std::string& params,
                  const std::function<CachedImage()>& make);

  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }
  size_t bytes() const { return bytes_; }  ///< pixel bytes held (ram) or written (disk)

 private:
  CachedImage load_disk(const std::filesystem::path& file) const;
  void store_disk(const std::filesystem::path& file, const CachedImage& im) const;

  Mode mode_;
  std::filesystem::path dir_;
  std::mutex mu_;
  // ram: one future per key, made by the first caller; callers meanwhile wait for it, so a file is
  // decoded once even when two loader threads want it at the same time (mosaic partners).
  std::unordered_map<std::string, std::shared_future<CachedImage>> ram_;
  std::atomic<size_t> hits_{0}, misses_{0}, bytes_{0};
};

/// Upper bound of cache=ram's pixel bytes for n images whose long side is imgsz: n * imgsz^2 * 2
/// (16-bit, square).
uint64_t ram_bytes_needed(size_t n_images, int imgsz);
/// MemAvailable from /proc/meminfo in bytes (0 when unknown).
uint64_t memory_available();
/// Throws fracture::Error (with both numbers and what to do) when `needed` exceeds half of
/// memory_available(); does nothing when that is unknown.
void check_ram_fits(uint64_t needed, size_t n_images, int imgsz);

}  // namespace fracture
