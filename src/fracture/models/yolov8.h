// YOLOv8 detection model (Ultralytics v8 architecture, yolov8.yaml), n/s/m scales as data, with
// Ultralytics' state-dict keys 1:1 (`model.0.conv.weight` ... `model.22.dfl.conv.weight`).
//
//   fracture::models::YoloV8Options opt;  opt.scale = "n";  opt.nc = 1;
//   fracture::models::YoloV8 net(opt);
//   net->train();  auto feats = net->forward_train(x);   // 3 x (B, 64 + nc, H/s, W/s), s = 8, 16, 32
//   auto raw = net->forward(x);                          // train mode: (B, 64 + nc, A) logits
//   net->eval();   auto y = net->forward(x);             // (B, 4 + nc, A): xywh pixels, sigmoid scores
//   auto report = fracture::models::load_yolov8_weights(*net, "yolov8n.safetensors");
//
// Layer indices (the `model.N.` prefix): 0-9 backbone (Conv, Conv, C2f, Conv, C2f, Conv, C2f, Conv,
// C2f, SPPF), 10 Upsample, 11 Concat(P4), 12 C2f, 13 Upsample, 14 Concat(P3), 15 C2f (P3 out),
// 16 Conv, 17 Concat, 18 C2f (P4 out), 19 Conv, 20 Concat, 21 C2f (P5 out), 22 Detect.
// Upsample and Concat hold no parameters but keep their index so later keys match.
// Input H and W must be multiples of 32.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "fracture/models/batchnorm.h"
#include "fracture/models/weights/checkpoint.h"
#include "fracture/models/inference.h"

namespace fracture::models {

/// One row of yolov8.yaml's `scales`: depth and width multipliers and the channel cap.
struct YoloScale {
  std::string name;
  double depth = 0.33;
  double width = 0.25;
  int64_t max_channels = 1024;
};

/// The scales n, s, m (Ultralytics yolov8.yaml). Throws fracture::Error for another name.
YoloScale yolo_scale(const std::string& name);

struct YoloV8Options {
  std::string scale = "n";    ///< n | s | m
  int64_t nc = 80;            ///< number of classes
  int64_t in_channels = 3;    ///< 3 as Ultralytics (grey radiographs are replicated to 3)
};

/// Ultralytics Conv: Conv2d(k, stride, padding k/2, no bias) `conv` + BatchNorm2d (eps 1e-3,
/// momentum 0.03) `bn` + SiLU.
class YoloConvImpl : public torch::nn::Module {
 public:
  YoloConvImpl(int64_t c1, int64_t c2, int64_t k = 1, int64_t s = 1);
  torch::Tensor forward(torch::Tensor x);  // (B, c1, H, W) -> (B, c2, H / s, W / s)
  torch::nn::Conv2d conv{nullptr};
  SyncBatchNorm2d bn{nullptr};
  bool fused = false;  ///< bn folded into conv (optimize_for_inference): bn skipped, SiLU in place
  /// silu(conv) as one oneDNN primitive (optimize_for_inference with InferenceOptions::onednn).
  std::shared_ptr<OnednnConv> fast;
};
TORCH_MODULE(YoloConv);

/// Ultralytics Bottleneck with k = (3, 3), e = 1.0: cv1 3x3, cv2 3x3, + x when shortcut and c1 == c2.
class YoloBottleneckImpl : public torch::nn::Module {
 public:
  YoloBottleneckImpl(int64_t c1, int64_t c2, bool shortcut);
  torch::Tensor forward(torch::Tensor x);
  YoloConv cv1{nullptr}, cv2{nullptr};
  bool add = false;
};
TORCH_MODULE(YoloBottleneck);

/// C2f (CSP bottleneck with 2 convolutions, v8): cv1 1x1 to 2c (c = c2 / 2), split in two halves,
/// n Bottlenecks `m.i` chained on the last half, concat all (2 + n) c, cv2 1x1 to c2.
class C2fImpl : public torch::nn::Module {
 public:
  C2fImpl(int64_t c1, int64_t c2, int64_t n, bool shortcut);
  torch::Tensor forward(torch::Tensor x);
  YoloConv cv1{nullptr}, cv2{nullptr};
  torch::nn::ModuleList m{nullptr};
  int64_t c = 0;
};
TORCH_MODULE(C2f);

/// SPPF (spatial pyramid pooling, fast): cv1 1x1 to c1 / 2, three chained 5x5 max pools (stride 1,
/// padding 2), concat the 4 maps, cv2 1x1 to c2.
class SPPFImpl : public torch::nn::Module {
 public:
  SPPFImpl(int64_t c1, int64_t c2, int64_t k = 5);
  torch::Tensor forward(torch::Tensor x);
  YoloConv cv1{nullptr}, cv2{nullptr};
  int64_t k = 5;
};
TORCH_MODULE(SPPF);

/// A parameter-free placeholder that keeps a layer index (Upsample, Concat).
class YoloNoParamImpl : public torch::nn::Module {
 public:
  explicit YoloNoParamImpl(std::string kind) : kind(std::move(kind)) {}
  std::string kind;
};
TORCH_MODULE(YoloNoParam);

/// DFL: fixed 1x1 conv `conv` (16 -> 1, no bias, weights 0..15, no gradient) over a softmax of the
/// 16 bins: (B, 64, A) -> (B, 4, A) expected distances in stride units.
class DFLImpl : public torch::nn::Module {
 public:
  explicit DFLImpl(int64_t reg_max = 16);
  torch::Tensor forward(torch::Tensor x);
  torch::nn::Conv2d conv{nullptr};
  int64_t reg_max = 16;
};
TORCH_MODULE(DFL);

/// Detect head: per level i, box branch cv2.i = Sequential(Conv 3x3, Conv 3x3, Conv2d 1x1 -> 64) and
/// class branch cv3.i = Sequential(Conv 3x3, Conv 3x3, Conv2d 1x1 -> nc); dfl. Strides 8/16/32.
class DetectImpl : public torch::nn::Module {
 public:
  DetectImpl(int64_t nc, const std::vector<int64_t>& ch);
  /// Raw maps: 3 x (B, 64 + nc, H_i, W_i), box logits first then class logits.
  std::vector<torch::Tensor> forward_raw(const std::vector<torch::Tensor>& x);
  /// The last 1x1 convolution of cv2.i / cv3.i as oneDNN primitives writing fp32 (set by
  /// optimize_for_inference with InferenceOptions::bf16); empty otherwise.
  std::vector<std::shared_ptr<OnednnConv>> fast_box, fast_cls;
  /// Decodes raw maps: (B, 4 + nc, A), boxes xywh in input pixels, class scores sigmoided.
  torch::Tensor decode(const std::vector<torch::Tensor>& raw);
  /// Bias prior (Ultralytics bias_init): box 1.0, class log(5 / nc / (640 / stride)^2).
  void bias_init();
  torch::nn::ModuleList cv2{nullptr}, cv3{nullptr};
  DFL dfl{nullptr};
  int64_t nc = 80, reg_max = 16;
  std::vector<double> stride{8, 16, 32};
};
TORCH_MODULE(Detect);

class YoloV8Impl : public torch::nn::Module {
 public:
  explicit YoloV8Impl(const YoloV8Options& options = {});
  /// Eval mode: decoded (B, 4 + nc, A), xywh input pixels then sigmoid class scores (Ultralytics
  /// Detect inference output). Train mode: the raw maps flattened and concatenated,
  /// (B, 64 + nc, A) logits, the form the loss consumes.
  torch::Tensor forward(torch::Tensor x);
  /// The three raw maps (B, 64 + nc, H_i, W_i), any mode.
  std::vector<torch::Tensor> forward_train(torch::Tensor x);
  /// Module::train, refused after optimize_for_inference (the BatchNorms are folded away).
  void train(bool on = true) override;
  bool inference_only() const { return inference_only_; }
  void set_inference_only() { inference_only_ = true; }

  YoloV8Options options;
  YoloScale scale;
  torch::nn::ModuleList model{nullptr};  // keys model.0 ... model.22
  // Typed handles to the same modules (by layer index).
  YoloConv l0{nullptr}, l1{nullptr}, l3{nullptr}, l5{nullptr}, l7{nullptr}, l16{nullptr}, l19{nullptr};
  C2f l2{nullptr}, l4{nullptr}, l6{nullptr}, l8{nullptr}, l12{nullptr}, l15{nullptr}, l18{nullptr}, l21{nullptr};
  SPPF l9{nullptr};
  Detect l22{nullptr};

 private:
  bool inference_only_ = false;
};
TORCH_MODULE(YoloV8);

/// Inference speed-up in the spirit of Ultralytics' `model.fuse()`: eval mode, every Conv's
/// BatchNorm folded into its convolution (fold_conv_bn, float64) and skipped, SiLU in place, and
/// with options.channels_last the 4-D weights stored NHWC (feed inputs through inference_input()).
/// Outputs equal the unfused model's up to float rounding (tested in yolov8_test). Afterwards the
/// model is inference-only: train(true) throws and its weights must not be saved (folded).
void optimize_for_inference(YoloV8Impl& net, const InferenceOptions& options = {});

/// Loads an Ultralytics YOLOv8 state dict (torch.save zip of a state dict, or safetensors) through
/// checkpoint.h. When the file was trained with another number of classes, only the class output
/// convolutions model.22.cv3.i.2 (and, where nc changes the class-branch width, the rest of cv3)
/// keep their fresh initialisation; everything else must match. Ultralytics' own *.pt files pickle
/// the whole Python model object and cannot be read: convert them once with
/// `torch.save(YOLO('yolov8n.pt').model.state_dict(), 'yolov8n_sd.pt')` (see docs/detect.md).
LoadReport load_yolov8_weights(YoloV8Impl& net, const std::filesystem::path& path, bool strict = true);

}  // namespace fracture::models
