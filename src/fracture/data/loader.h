// Prefetching batch loader for the training loops: sources that decode and augment one sample,
// and a Loader that shuffles, batches and prefetches them on worker threads.
//
//   auto src = std::make_shared<fracture::ClassificationSource>(ds.items, cls_opt);
//   fracture::LoaderOptions lo;  lo.batch = 16;  lo.workers = 2;  lo.seed = 0;  lo.shuffle = true;
//   fracture::Loader loader(src, lo);
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     while (auto b = loader.next()) {     // std::optional<Batch>
//       auto out = model->forward(b->images.to(device));  // (B, C, H, W) float32
//       ... b->labels (B) int64, or b->targets (N, 6) for detection ...
//     }
//   }
//
// Determinism contract: the order of an epoch is a Fisher-Yates shuffle seeded from
// (seed, epoch), and sample i of that epoch is decoded and augmented with its own
// std::mt19937_64 seeded from sample_seed(seed, epoch, i). Batches are assembled in order, so
// the batches are bit-identical whatever the number of workers.
//
// Errors: an exception thrown while loading a sample is caught on the worker, wrapped into a
// fracture::Error that names the sample's file, and rethrown by next() when the consumer reaches
// that batch. Stopping early is fine: the destructor (or start_epoch) stops and joins the workers.
#pragma once
#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fracture/data/augment.h"
#include "fracture/data/dataset.h"
#include "fracture/data/image_cache.h"
#include "fracture/data/image.h"

namespace fracture {

/// One decoded, augmented sample.
struct Sample {
  cv::Mat image;            ///< CV_32FC1, imgsz x imgsz, values in [0, 1]
  int label = -1;           ///< image label (classification); -1 when the source has none
  std::vector<Box> boxes;   ///< detection boxes, normalised cxcywh relative to `image`
  std::string path;         ///< file it came from (the first one for a mosaic)
  LetterboxInfo letterbox;  ///< how the original maps into `image` (valid when !augmented geometry)
};

/// How samples become a batch tensor: grey replicated to `channels`, then (x - mean) / std per channel.
struct Normalisation {
  int channels = 1;          ///< 1, or 3 for pretrained RGB stems (grey replicated)
  std::vector<float> mean;   ///< per channel; empty = no normalisation (values stay in [0, 1])
  std::vector<float> std;
};

/// A dataset view that decodes and augments sample `index` with the given RNG.
/// load() is called concurrently from several threads: it must not modify the source.
class Source {
 public:
  virtual ~Source() = default;
  virtual size_t size() const = 0;
  virtual Sample load(size_t index, std::mt19937_64& rng) const = 0;
  /// The file behind sample `index` (for error messages).
  virtual std::string describe(size_t index) const = 0;
  virtual Normalisation normalisation() const { return {}; }
  /// Called by Loader::start_epoch while no worker runs (e.g. close_mosaic).
  virtual void set_epoch(int epoch) {}
};

/// ImageNet mean and std (torchvision), on [0, 1] RGB.
Normalisation imagenet_normalisation();

struct ClassificationOptions {
  int imgsz = 224;               ///< output side, pixels
  bool augment = false;          ///< flips, affine and intensity jitter from `aug` (train only)
  std::string resize = "letterbox";  ///< "letterbox" (keep aspect, pad) or "stretch" (ignore aspect)
  int channels = 3;              ///< batch channels: grey replicated (3 for torchvision models)
  bool imagenet_norm = true;     ///< subtract ImageNet mean / divide by std (needs channels 3)
  float clahe = 0.0f;            ///< CLAHE clip limit applied to every image (train and eval); 0 = off
  AugmentOptions aug;            ///< `mosaic` is ignored
  ReadOptions read;              ///< DICOM window etc.
  std::shared_ptr<ImageCache> cache;  ///< key `cache`: decoded, resized images kept between epochs (null: none)
};

/// Image-level samples from ClsItems: read, resize to imgsz (letterbox or stretch), optional CLAHE,
/// then when augment: random affine, flips, intensity jitter.
class ClassificationSource : public Source {
 public:
  ClassificationSource(std::vector<ClsItem> items, ClassificationOptions opt);
  size_t size() const override { return items_.size(); }
  Sample load(size_t index, std::mt19937_64& rng) const override;
  std::string describe(size_t index) const override;
  Normalisation normalisation() const override;

 private:
  std::vector<ClsItem> items_;
  ClassificationOptions opt_;
};

struct DetectionOptions {
  int imgsz = 640;          ///< output side, pixels
  bool augment = true;      ///< mosaic / affine / flips / intensity (train); false = letterbox only
  int channels = 3;         ///< batch channels (grey replicated); YOLO takes [0, 1], no mean/std
  int epochs = 0;           ///< total epochs, for close_mosaic (0: mosaic never closed)
  int close_mosaic = 10;    ///< mosaic off for the last close_mosaic epochs (Ultralytics)
  float clahe = 0.0f;       ///< CLAHE clip limit on every image; 0 = off
  AugmentOptions aug;
  ReadOptions read;
  std::shared_ptr<ImageCache> cache;  ///< key `cache`: decoded, resized images kept between epochs (null: none)
  /// Without augment: one padded size per item (rectangular validation, see rect_batches); empty =
  /// the imgsz square. Items of one batch must share a size.
  std::vector<cv::Size> shapes;
};

/// Detection samples from DetItems, as Ultralytics' training pipeline: each image resized so its
/// long side is imgsz; with probability aug.mosaic a mosaic with 3 other random images (2*imgsz
/// canvas) warped back to imgsz by random_affine, otherwise letterbox then random_affine; then
/// intensity jitter and flips. Without augment: letterbox only (Sample::letterbox maps back).
class DetectionSource : public Source {
 public:
  DetectionSource(std::vector<DetItem> items, DetectionOptions opt);
  size_t size() const override { return items_.size(); }
  Sample load(size_t index, std::mt19937_64& rng) const override;
  std::string describe(size_t index) const override;
  Normalisation normalisation() const override;
  void set_epoch(int epoch) override { epoch_ = epoch; }
  bool mosaic_active() const;  ///< mosaic in use for the current epoch

 private:
  cv::Mat read_resized(size_t index) const;  // grey float, long side imgsz, CLAHE applied
  int shrink_interpolation() const;
  std::vector<DetItem> items_;
  DetectionOptions opt_;
  int epoch_ = 0;
};

/// Ultralytics' rectangular validation batches (8.1.0 BaseDataset.set_rectangle): the images
/// ordered by aspect ratio h / w (ours stable; numpy's argsort is not, so ties may be ordered
/// otherwise), cut into batches of `batch`, and each batch padded to the smallest shape holding its
/// images: [max h/w, 1] when all are landscape, [1, 1 / min h/w] when all are portrait, else [1, 1],
/// each side ceil(ratio * imgsz / stride + pad) * stride pixels. Example: 16 images of 1000x800
/// (w x h) at imgsz 640, batch 16: shape 672 x 544 (w x h) instead of 640 x 640.
struct RectBatches {
  std::vector<size_t> order;     ///< order[k]: the index (into `sizes`) of the k-th image
  std::vector<cv::Size> shapes;  ///< shapes[k]: padded size (w x h) of the k-th image in that order
};
RectBatches rect_batches(const std::vector<cv::Size>& sizes, int batch, int imgsz, int stride = 32, double pad = 0.5);

struct LoaderOptions {
  int batch = 16;
  int workers = 2;          ///< worker threads; 0 = load on the consumer thread in next()
  int prefetch = 2;         ///< batches prepared ahead per worker (queue bound = workers * prefetch)
  bool shuffle = true;      ///< shuffle each epoch from (seed, epoch); false = dataset order
  bool drop_last = false;   ///< drop the last incomplete batch
  bool channels_last = false;  ///< images in channels-last memory format
  uint64_t seed = 0;
  /// strict=false: a sample that fails to load (a file deleted or damaged after the run started)
  /// is left out of its batch and recorded (skipped()) instead of ending the epoch with an error;
  /// a batch whose samples all fail still throws. Training only: validation and prediction keep
  /// one output per item.
  bool skip_unreadable = false;
  /// Data-parallel training: this rank's share of every epoch, as torch's DistributedSampler
  /// (drop_last false): the epoch's order padded by wrapping to a multiple of shard_count, then
  /// every shard_count-th entry from shard_rank. The ranks' batch k together hold batch k of one
  /// process with shard_count times the batch.
  int shard_rank = 0, shard_count = 1;
};

/// One batch. Tensors are on the CPU.
struct Batch {
  at::Tensor images;   ///< (B, C, H, W) float32, contiguous (or channels-last)
  at::Tensor labels;   ///< (B) int64, -1 where the source has no label
  at::Tensor targets;  ///< (N, 6) float32 [batch_index, cls, cx, cy, w, h], normalised (Ultralytics)
  std::vector<int64_t> indices;             ///< dataset index of each image
  std::vector<std::string> paths;           ///< file of each image
  std::vector<LetterboxInfo> letterboxes;   ///< per image, to map predictions back to the original
};

/// Seed of sample `index` in `epoch` (splitmix64 mixing of the three numbers).
uint64_t sample_seed(uint64_t seed, int64_t epoch, uint64_t index);

/// The dataset order of an epoch: Fisher-Yates with a std::mt19937_64 seeded from (seed, epoch).
std::vector<int64_t> epoch_order(size_t n, uint64_t seed, int64_t epoch, bool shuffle);
/// Rank `rank` of `count`'s share of an epoch order (LoaderOptions::shard_rank).
std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int rank, int count);

/// Turns samples into a Batch (normalisation applied). Used by Loader; public for tests.
Batch collate(std::vector<Sample>& samples, const std::vector<int64_t>& indices, const Normalisation& norm,
              bool channels_last);

class Loader {
 public:
  Loader(std::shared_ptr<Source> source, LoaderOptions opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Stops the previous epoch's workers, shuffles for `epoch` and starts loading.
  void start_epoch(int epoch);
  /// The next batch of the epoch in order, or nullopt at its end. Rethrows a worker's error.
  std::optional<Batch> next();
  /// Batches per epoch (depends on drop_last).
  size_t batches_per_epoch() const;
  /// Samples left out so far (skip_unreadable), each "file: reason", in the order they failed.
  std::vector<std::string> skipped() const;
  size_t size() const;  ///< samples in the source

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace fracture
