#include "fracture/data/loader.h"

#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "fracture/core/error.h"
#include "fracture/core/rng.h"

namespace fracture {

namespace {

// Image read and resized so its long side is imgsz (or stretched to imgsz x imgsz), as float [0, 1].
// Resizing happens on the 8/16-bit pixels, before the float conversion (4x less data to convert).
struct Resized {
  cv::Mat x;  // CV_32FC1
  int src_w = 0, src_h = 0;
};

CachedImage decode_resized(const std::filesystem::path& path, const ReadOptions& read, int imgsz, bool stretch,
                           int shrink) {
  Image im = read_image(path, read);
  CachedImage c;
  c.src_w = im.pixels.cols;
  c.src_h = im.pixels.rows;
  c.bits = im.bits;
  if (stretch) {
    bool shrink = c.src_w * c.src_h > imgsz * imgsz;
    cv::resize(im.pixels, c.pixels, cv::Size(imgsz, imgsz), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  } else {
    c.pixels = resize_long_side(im.pixels, imgsz, shrink);
  }
  return c;
}

// `cache` (key `cache`) memoises the decode-and-resize step only, so the float conversion and CLAHE
// below see the same pixels with or without it.
Resized read_and_resize(const std::filesystem::path& path, const ReadOptions& read, int imgsz, bool stretch,
                        float clahe_clip, int shrink = cv::INTER_AREA, ImageCache* cache = nullptr) {
  CachedImage c;
  if (cache) {
    const std::string params = "imgsz=" + std::to_string(imgsz) + (stretch ? " stretch" : " long-side") +
                               " interp=" + std::to_string(shrink) + " dicom_window=" + read.dicom_window +
                               " max_pixels=" + std::to_string(read.max_pixels);
    c = cache->get(path, params, [&] { return decode_resized(path, read, imgsz, stretch, shrink); });
  } else {
    c = decode_resized(path, read, imgsz, stretch, shrink);
  }
  Resized r;
  r.src_w = c.src_w;
  r.src_h = c.src_h;
  Image im;
  im.pixels = c.pixels;
  im.bits = c.bits;
  r.x = to_float01(im);
  if (clahe_clip > 0) r.x = clahe(r.x, clahe_clip);
  return r;
}

// Pads an image whose long side is already imgsz to dst_w x dst_h (the imgsz square, or a
// rectangular validation batch's shape), recording the mapping from the original file.
cv::Mat pad_to(const Resized& r, int imgsz, int dst_w, int dst_h, float pad_value, LetterboxInfo* lb) {
  *lb = LetterboxInfo{};
  lb->src_w = r.src_w;
  lb->src_h = r.src_h;
  lb->scale = float(double(imgsz) / std::max(r.src_w, r.src_h));
  return pad_centred(r.x, dst_w, dst_h, pad_value, lb);
}

}  // namespace

uint64_t sample_seed(uint64_t seed, int64_t epoch, uint64_t index) {
  return splitmix64(splitmix64(splitmix64(seed) ^ uint64_t(epoch)) ^ index);
}

std::vector<int64_t> epoch_order(size_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = int64_t(i);
  if (!shuffle || n < 2) return order;
  std::mt19937_64 rng(splitmix64(sample_seed(seed, epoch, 0) ^ 0x5EED0FF5E75EED00ULL));
  for (size_t i = n - 1; i > 0; --i) {
    size_t j = size_t(rng() % (i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

Normalisation imagenet_normalisation() {
  return {3, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
}

// --- ClassificationSource ----------------------------------------------------------------------

ClassificationSource::ClassificationSource(std::vector<ClsItem> items, ClassificationOptions opt)
    : items_(std::move(items)), opt_(std::move(opt)) {
  FRACTURE_CHECK(opt_.imgsz > 0, "classification loader: 'imgsz' must be positive, got ", opt_.imgsz);
  FRACTURE_CHECK(opt_.resize == "letterbox" || opt_.resize == "stretch",
                 "classification loader: resize must be 'letterbox' or 'stretch', got '", opt_.resize, "'");
  FRACTURE_CHECK(opt_.channels == 1 || opt_.channels == 3,
                 "classification loader: channels must be 1 or 3, got ", opt_.channels);
  FRACTURE_CHECK(!opt_.imagenet_norm || opt_.channels == 3,
                 "classification loader: imagenet_norm needs channels = 3");
}

std::string ClassificationSource::describe(size_t index) const {
  return index < items_.size() ? items_[index].image.string() : "";
}

Normalisation ClassificationSource::normalisation() const {
  if (opt_.imagenet_norm) return imagenet_normalisation();
  Normalisation n;
  n.channels = opt_.channels;
  return n;
}

Sample ClassificationSource::load(size_t index, std::mt19937_64& rng) const {
  FRACTURE_CHECK(index < items_.size(), "classification loader: index ", index, " out of range");
  const ClsItem& item = items_[index];
  bool stretch = opt_.resize == "stretch";
  Resized r = read_and_resize(item.image, opt_.read, opt_.imgsz, stretch, opt_.clahe, cv::INTER_AREA, opt_.cache.get());
  Sample s;
  s.label = item.label;
  s.path = item.image.string();
  if (stretch) {
    s.image = r.x;
    // Stretched: the whole output is the image (x and y scale apart; letterbox_to_original uses new_w/h).
    s.letterbox.src_w = r.src_w;
    s.letterbox.src_h = r.src_h;
    s.letterbox.dst_w = s.letterbox.dst_h = s.letterbox.new_w = s.letterbox.new_h = opt_.imgsz;
    s.letterbox.scale = float(double(opt_.imgsz) / std::max(r.src_w, r.src_h));
  } else {
    s.image = pad_to(r, opt_.imgsz, opt_.imgsz, opt_.imgsz, opt_.aug.pad_value, &s.letterbox);
  }
  if (opt_.augment) {
    std::vector<Box> none;
    s.image = random_affine(s.image, none, opt_.aug, rng, opt_.imgsz, opt_.imgsz);
    random_flips(s.image, none, opt_.aug, rng);
    random_intensity(s.image, opt_.aug, rng);
    s.letterbox = LetterboxInfo{};  // geometry changed: no longer invertible
  }
  return s;
}

// --- DetectionSource ---------------------------------------------------------------------------

DetectionSource::DetectionSource(std::vector<DetItem> items, DetectionOptions opt)
    : items_(std::move(items)), opt_(std::move(opt)) {
  FRACTURE_CHECK(opt_.imgsz > 0, "detection loader: 'imgsz' must be positive, got ", opt_.imgsz);
  FRACTURE_CHECK(opt_.channels == 1 || opt_.channels == 3,
                 "detection loader: channels must be 1 or 3, got ", opt_.channels);
  FRACTURE_CHECK(opt_.aug.mosaic >= 0 && opt_.aug.mosaic <= 1,
                 "detection loader: 'mosaic' must be a probability in [0, 1], got ", opt_.aug.mosaic);
  FRACTURE_CHECK(opt_.shapes.empty() || opt_.shapes.size() == items_.size(), "detection loader: ",
                 opt_.shapes.size(), " rectangular shapes for ", items_.size(), " images");
}

std::string DetectionSource::describe(size_t index) const {
  return index < items_.size() ? items_[index].image.string() : "";
}

Normalisation DetectionSource::normalisation() const {
  Normalisation n;
  n.channels = opt_.channels;
  return n;
}

bool DetectionSource::mosaic_active() const {
  if (!opt_.augment || opt_.aug.mosaic <= 0) return false;
  return opt_.epochs <= 0 || epoch_ < opt_.epochs - opt_.close_mosaic;
}

// Ultralytics 8.1.0 load_image: INTER_LINEAR when augmenting, INTER_AREA to shrink for validation.
int DetectionSource::shrink_interpolation() const { return opt_.augment ? cv::INTER_LINEAR : cv::INTER_AREA; }

cv::Mat DetectionSource::read_resized(size_t index) const {
  return read_and_resize(items_[index].image, opt_.read, opt_.imgsz, false, opt_.clahe, shrink_interpolation(),
                         opt_.cache.get())
      .x;
}

Sample DetectionSource::load(size_t index, std::mt19937_64& rng) const {
  FRACTURE_CHECK(index < items_.size(), "detection loader: index ", index, " out of range");
  const int s = opt_.imgsz;
  Sample out;
  out.path = items_[index].image.string();
  bool use_mosaic = mosaic_active() && uniform(rng, 0, 1) < opt_.aug.mosaic;
  if (use_mosaic) {
    std::array<cv::Mat, 4> imgs;
    std::array<std::vector<Box>, 4> boxes;
    for (int k = 0; k < 4; ++k) {
      size_t idx = k == 0 ? index : size_t(rng() % items_.size());  // 3 other random images
      try {
        imgs[k] = read_resized(idx);
      } catch (const std::exception& e) {
        if (idx == index) throw;
        FRACTURE_FAIL("mosaic partner ", items_[idx].image.string(), ": ", e.what());
      }
      boxes[k] = items_[idx].boxes;  // normalised: unchanged by the resize
    }
    cv::Mat canvas = mosaic4(imgs, boxes, s, opt_.aug.pad_value, rng, out.boxes);
    out.image = random_affine(canvas, out.boxes, opt_.aug, rng, s, s);
  } else {
    Resized r = read_and_resize(items_[index].image, opt_.read, s, false, opt_.clahe, shrink_interpolation(),
                                opt_.cache.get());
    const bool rect = !opt_.augment && !opt_.shapes.empty();  // rectangular validation batch shape
    const int dst_w = rect ? opt_.shapes[index].width : s, dst_h = rect ? opt_.shapes[index].height : s;
    out.image = pad_to(r, s, dst_w, dst_h, opt_.aug.pad_value, &out.letterbox);
    out.boxes = letterbox_boxes(items_[index].boxes, out.letterbox);
    if (opt_.augment) {
      out.image = random_affine(out.image, out.boxes, opt_.aug, rng, s, s);
      out.letterbox = LetterboxInfo{};
    }
  }
  if (opt_.augment) {
    random_intensity(out.image, opt_.aug, rng);
    random_flips(out.image, out.boxes, opt_.aug, rng);
  }
  return out;
}

RectBatches rect_batches(const std::vector<cv::Size>& sizes, int batch, int imgsz, int stride, double pad) {
  FRACTURE_CHECK(batch > 0 && imgsz > 0 && stride > 0, "rect_batches: batch, imgsz and stride must be positive");
  const size_t n = sizes.size();
  std::vector<double> ar(n);
  for (size_t i = 0; i < n; ++i) {
    FRACTURE_CHECK(sizes[i].width > 0 && sizes[i].height > 0, "rect_batches: image ", i, " has size ",
                   sizes[i].width, "x", sizes[i].height);
    ar[i] = double(sizes[i].height) / double(sizes[i].width);
  }
  RectBatches rb;
  rb.order.resize(n);
  for (size_t i = 0; i < n; ++i) rb.order[i] = i;
  std::stable_sort(rb.order.begin(), rb.order.end(), [&](size_t a, size_t b) { return ar[a] < ar[b]; });
  rb.shapes.resize(n);
  auto side = [&](double ratio) { return int(std::ceil(ratio * imgsz / stride + pad)) * stride; };
  for (size_t b0 = 0; b0 < n; b0 += size_t(batch)) {
    const size_t b1 = std::min(n, b0 + size_t(batch));
    const double mini = ar[rb.order[b0]], maxi = ar[rb.order[b1 - 1]];  // sorted ascending
    double rh = 1, rw = 1;
    if (maxi < 1) rh = maxi;
    else if (mini > 1) rw = 1 / mini;
    for (size_t k = b0; k < b1; ++k) rb.shapes[k] = cv::Size(side(rw), side(rh));
  }
  return rb;
}

// --- collate -----------------------------------------------------------------------------------

Batch collate(std::vector<Sample>& samples, const std::vector<int64_t>& indices, const Normalisation& norm,
              bool channels_last) {
  FRACTURE_CHECK(!samples.empty(), "collate: no samples");
  FRACTURE_CHECK(indices.size() == samples.size(), "collate: ", indices.size(), " indices for ",
                 samples.size(), " samples");
  FRACTURE_CHECK(norm.channels == 1 || norm.channels == 3, "collate: channels must be 1 or 3");
  FRACTURE_CHECK(norm.mean.empty() || (int(norm.mean.size()) == norm.channels &&
                                       int(norm.std.size()) == norm.channels),
                 "collate: mean/std need one value per channel");
  const int64_t B = int64_t(samples.size());
  const int H = samples[0].image.rows, W = samples[0].image.cols;
  Batch b;
  torch::Tensor grey = torch::empty({B, 1, H, W}, torch::kFloat32);
  float* dst = grey.data_ptr<float>();
  int64_t nboxes = 0;
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = samples[size_t(i)];
    FRACTURE_CHECK(s.image.type() == CV_32FC1 && s.image.rows == H && s.image.cols == W, "collate: sample ",
                   s.path, " is not a CV_32FC1 ", W, "x", H, " image");
    cv::Mat c = s.image.isContinuous() ? s.image : s.image.clone();
    std::memcpy(dst + i * H * W, c.ptr<float>(), sizeof(float) * size_t(H) * W);
    nboxes += int64_t(s.boxes.size());
  }
  torch::Tensor images = norm.channels == 1 ? grey : grey.expand({B, norm.channels, H, W}).contiguous();
  if (!norm.mean.empty()) {
    auto mean = torch::tensor(norm.mean).view({1, norm.channels, 1, 1});
    auto sd = torch::tensor(norm.std).view({1, norm.channels, 1, 1});
    images.sub_(mean).div_(sd);
  }
  if (channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
  b.images = images;

  b.labels = torch::empty({B}, torch::kInt64);
  b.targets = torch::empty({nboxes, 6}, torch::kFloat32);
  auto lab = b.labels.accessor<int64_t, 1>();
  auto tgt = b.targets.accessor<float, 2>();
  int64_t k = 0;
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = samples[size_t(i)];
    lab[i] = s.label;
    for (const Box& bx : s.boxes) {
      tgt[k][0] = float(i), tgt[k][1] = float(bx.cls);
      tgt[k][2] = bx.cx, tgt[k][3] = bx.cy, tgt[k][4] = bx.w, tgt[k][5] = bx.h;
      ++k;
    }
    b.paths.push_back(s.path);
    b.letterboxes.push_back(s.letterbox);
  }
  b.indices = indices;
  return b;
}

// --- Loader ------------------------------------------------------------------------------------

struct Loader::State {
  std::shared_ptr<Source> source;
  LoaderOptions opt;
  Normalisation norm;

  int epoch = -1;
  std::vector<int64_t> order;
  size_t nbatches = 0;

  // Shared with the workers, under `mu`.
  std::mutex mu;
  std::condition_variable cv_work;   // workers wait for room in the queue
  std::condition_variable cv_ready;  // the consumer waits for its batch
  size_t next_claim = 0;             // next batch number a worker takes
  size_t next_return = 0;            // next batch number next() returns
  std::map<size_t, Batch> ready;
  std::map<size_t, std::exception_ptr> errors;
  bool stop = false;
  std::vector<std::thread> threads;
  mutable std::mutex skipped_mu;       // guards `skipped` (workers append, the consumer reads)
  mutable std::vector<std::string> skipped;

  // Builds batch k of the current epoch; throws fracture::Error naming the file on failure.
  Batch build(size_t k) const {
    size_t B = size_t(opt.batch);
    size_t lo = k * B, hi = std::min(order.size(), lo + B);
    std::vector<Sample> samples;
    std::vector<int64_t> idx;
    samples.reserve(hi - lo);
    std::string first_failure;
    for (size_t p = lo; p < hi; ++p) {
      uint64_t i = uint64_t(order[p]);
      std::mt19937_64 rng(sample_seed(opt.seed, epoch, i));
      try {
        samples.push_back(source->load(size_t(i), rng));
      } catch (const std::exception& e) {
        const std::string file = source->describe(size_t(i)), reason = e.what();
        const bool named = file.empty() || reason.find(file) != std::string::npos;
        if (!opt.skip_unreadable) {
          if (!named) FRACTURE_FAIL("loading sample ", i, " (", file, "): ", reason);
          FRACTURE_FAIL("loading sample ", i, ": ", reason);
        }
        const std::string what = named ? reason : file + ": " + reason;
        {
          std::lock_guard<std::mutex> lk(skipped_mu);
          skipped.push_back(what);
        }
        if (first_failure.empty()) first_failure = what;
        continue;
      }
      idx.push_back(int64_t(i));
    }
    FRACTURE_CHECK(!samples.empty(), "loader: no image of batch ", k, " could be loaded (first: ", first_failure, ")");
    return collate(samples, idx, norm, opt.channels_last);
  }

  void worker() {
    const size_t bound = size_t(std::max(1, opt.workers * opt.prefetch));
    for (;;) {
      std::unique_lock<std::mutex> lk(mu);
      cv_work.wait(lk, [&] { return stop || next_claim >= nbatches || next_claim < next_return + bound; });
      if (stop || next_claim >= nbatches) return;
      size_t k = next_claim++;
      lk.unlock();
      std::optional<Batch> b;
      std::exception_ptr err;
      try {
        b = build(k);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err)
        errors[k] = err;
      else
        ready[k] = std::move(*b);
      cv_ready.notify_all();
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    cv_work.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
    std::lock_guard<std::mutex> lk(mu);
    stop = false;
    ready.clear();
    errors.clear();
  }
};

Loader::Loader(std::shared_ptr<Source> source, LoaderOptions opt) : s_(std::make_unique<State>()) {
  FRACTURE_CHECK(source, "loader: no source");
  FRACTURE_CHECK(opt.batch > 0, "loader: 'batch' must be positive, got ", opt.batch);
  FRACTURE_CHECK(opt.workers >= 0, "loader: 'workers' must be >= 0, got ", opt.workers);
  FRACTURE_CHECK(opt.prefetch > 0, "loader: prefetch must be positive, got ", opt.prefetch);
  s_->source = std::move(source);
  s_->opt = opt;
  s_->norm = s_->source->normalisation();
}

Loader::~Loader() { s_->stop_workers(); }

size_t Loader::size() const { return s_->source->size(); }

std::vector<std::string> Loader::skipped() const {
  std::lock_guard<std::mutex> lk(s_->skipped_mu);
  return s_->skipped;
}

namespace {
// Images per rank in an epoch of n: n padded by wrapping to a multiple of count, divided.
size_t shard_size(size_t n, int count) { return (n + size_t(count) - 1) / size_t(count); }
}  // namespace

std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int rank, int count) {
  FRACTURE_CHECK(count >= 1 && rank >= 0 && rank < count, "loader: shard ", rank, " of ", count);
  if (count == 1 || order.empty()) return order;
  const size_t per = shard_size(order.size(), count);
  std::vector<int64_t> out;
  out.reserve(per);
  for (size_t k = 0; k < per; ++k) out.push_back(order[(k * size_t(count) + size_t(rank)) % order.size()]);
  return out;
}

size_t Loader::batches_per_epoch() const {
  size_t n = s_->source->size(), B = size_t(s_->opt.batch);
  if (s_->opt.shard_count > 1) n = shard_size(n, s_->opt.shard_count);
  return s_->opt.drop_last ? n / B : (n + B - 1) / B;
}

void Loader::start_epoch(int epoch) {
  s_->stop_workers();
  s_->source->set_epoch(epoch);
  s_->epoch = epoch;
  s_->order = shard_order(epoch_order(s_->source->size(), s_->opt.seed, epoch, s_->opt.shuffle), s_->opt.shard_rank,
                          s_->opt.shard_count);
  s_->nbatches = batches_per_epoch();
  s_->next_claim = 0;
  s_->next_return = 0;
  for (int w = 0; w < s_->opt.workers; ++w) s_->threads.emplace_back([st = s_.get()] { st->worker(); });
}

std::optional<Batch> Loader::next() {
  State& s = *s_;
  FRACTURE_CHECK(s.epoch >= 0, "loader: call start_epoch() before next()");
  if (s.next_return >= s.nbatches) return std::nullopt;
  if (s.opt.workers == 0) {
    try {
      return s.build(s.next_return++);
    } catch (...) {
      s.next_return = s.nbatches;  // the epoch ends at the failing batch
      throw;
    }
  }

  std::unique_lock<std::mutex> lk(s.mu);
  size_t k = s.next_return;
  s.cv_ready.wait(lk, [&] { return s.ready.count(k) || s.errors.count(k); });
  if (s.errors.count(k)) {
    std::exception_ptr err = s.errors[k];
    s.next_return = s.nbatches;  // the epoch ends at the failing batch
    lk.unlock();
    s.stop_workers();
    std::rethrow_exception(err);
  }
  Batch b = std::move(s.ready[k]);
  s.ready.erase(k);
  s.next_return = k + 1;
  lk.unlock();
  s.cv_work.notify_all();
  return b;
}

}  // namespace fracture
