#include "fracture/data/image_cache.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "fracture/core/error.h"
#include "fracture/core/fs.h"

namespace fracture {

namespace fs = std::filesystem;

std::shared_ptr<ImageCache> ImageCache::make(const std::string& mode, const fs::path& disk_dir) {
  if (mode == "false" || mode == "off" || mode.empty()) return nullptr;
  if (mode == "ram" || mode == "true") return std::make_shared<ImageCache>(Mode::ram, disk_dir);
  if (mode == "disk") return std::make_shared<ImageCache>(Mode::disk, disk_dir);
  FRACTURE_FAIL("key 'cache' must be ram, disk or false, got '", mode, "'");
}

ImageCache::ImageCache(Mode mode, fs::path disk_dir) : mode_(mode), dir_(std::move(disk_dir)) {}

namespace {

constexpr char kMagic[8] = {'F', 'R', 'C', 'A', 'C', 'H', 'E', '1'};

// The disk file of an image: its path, the parameters, and the file's size and modification time
// (a changed image is read afresh).
fs::path disk_file(const fs::path& dir, const fs::path& path, const std::string& params) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  std::ostringstream key;
  key << fs::absolute(path).lexically_normal().string() << '\n' << params << '\n' << size << '\n' << mtime;
  return dir / (hex64(hash_bytes(key.str())) + ".img");
}

}  // namespace

CachedImage ImageCache::load_disk(const fs::path& file) const {
  const std::string b = read_file(file);
  int32_t h[6];
  FRACTURE_CHECK(b.size() >= sizeof kMagic + sizeof h && std::memcmp(b.data(), kMagic, sizeof kMagic) == 0,
                 file.string(), ": not an image cache file");
  std::memcpy(h, b.data() + sizeof kMagic, sizeof h);
  CachedImage im;
  im.bits = h[3];
  im.src_w = h[4];
  im.src_h = h[5];
  im.pixels = cv::Mat(h[0], h[1], h[2]);
  const size_t n = im.pixels.total() * im.pixels.elemSize();
  FRACTURE_CHECK(b.size() == sizeof kMagic + sizeof h + n, file.string(), ": image cache file is truncated");
  std::memcpy(im.pixels.data, b.data() + sizeof kMagic + sizeof h, n);
  return im;
}

void ImageCache::store_disk(const fs::path& file, const CachedImage& im) const {
  const cv::Mat m = im.pixels.isContinuous() ? im.pixels : im.pixels.clone();
  const int32_t h[6] = {m.rows, m.cols, m.type(), im.bits, im.src_w, im.src_h};
  std::string b(kMagic, sizeof kMagic);
  b.append(reinterpret_cast<const char*>(h), sizeof h);
  b.append(reinterpret_cast<const char*>(m.data), m.total() * m.elemSize());
  write_file_atomic(file, b);
}

CachedImage ImageCache::get(const fs::path& path, const std::string& params, const std::function<CachedImage()>& make) {
  if (mode_ == Mode::ram) {
    const std::string key = path.string() + '\n' + params;
    std::promise<CachedImage> promise;
    std::shared_future<CachedImage> future;
    bool mine = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = ram_.find(key);
      if (it != ram_.end()) {
        future = it->second;
      } else {
        future = promise.get_future().share();
        ram_.emplace(key, future);
        mine = true;
      }
    }
    if (!mine) {
      ++hits_;
      return future.get();  // cv::Mat shares the pixels; the loader only reads them
    }
    try {
      CachedImage im = make();
      ++misses_;
      bytes_ += im.pixels.total() * im.pixels.elemSize();
      promise.set_value(im);
      return im;
    } catch (...) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        ram_.erase(key);  // a later call tries again
      }
      promise.set_exception(std::current_exception());
      throw;
    }
  }
  const fs::path file = disk_file(dir_, path, params);
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) {
    try {
      CachedImage im = load_disk(file);
      ++hits_;
      return im;
    } catch (const Error&) {
      // a damaged cache file (a run killed while another wrote it cannot leave one: writes are
      // atomic) is replaced below
    }
  }
  CachedImage im = make();
  ++misses_;
  store_disk(file, im);
  bytes_ += im.pixels.total() * im.pixels.elemSize();
  return im;
}

uint64_t ram_bytes_needed(size_t n_images, int imgsz) { return uint64_t(n_images) * uint64_t(imgsz) * uint64_t(imgsz) * 2; }

uint64_t memory_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

void check_ram_fits(uint64_t needed, size_t n_images, int imgsz) {
  const uint64_t avail = memory_available();
  if (avail == 0) return;
  FRACTURE_CHECK(needed <= avail / 2, "cache=ram: ", n_images, " images at imgsz ", imgsz, " need up to ",
                 needed / (1024 * 1024), " MiB, more than half of the ", avail / (1024 * 1024),
                 " MiB available; use cache=disk, a smaller imgsz, or cache=false");
}

}  // namespace fracture
