// YOLOv8 model; see yolov8.h. Structure written from the facts in reference.md section 3.
#include "fracture/models/yolov8.h"

#include <cmath>

#include "fracture/core/error.h"
#include "fracture/core/log.h"
#include "fracture/detect/boxes.h"

namespace fracture::models {

namespace F = torch::nn::functional;

namespace {

// Ultralytics make_divisible: ceil(x / divisor) * divisor.
int64_t make_div8(double x) { return static_cast<int64_t>(std::ceil(x / 8.0)) * 8; }

}  // namespace

YoloScale yolo_scale(const std::string& name) {
  // yolov8.yaml scales: [depth, width, max_channels]
  if (name == "n") return {"n", 0.33, 0.25, 1024};
  if (name == "s") return {"s", 0.33, 0.50, 1024};
  if (name == "m") return {"m", 0.67, 0.75, 768};
  FRACTURE_FAIL("YOLOv8 scale must be one of n, s, m; got '", name, "'");
}

// --- blocks -------------------------------------------------------------------

YoloConvImpl::YoloConvImpl(int64_t c1, int64_t c2, int64_t k, int64_t s) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, k).stride(s).padding(k / 2).bias(false)));
  bn = register_module("bn", SyncBatchNorm2d(torch::nn::BatchNormOptions(c2).eps(1e-3).momentum(0.03)));
}

torch::Tensor YoloConvImpl::forward(torch::Tensor x) {
  if (fast) return fast->forward(x);
  if (fused) {  // inference only: no autograd through the in-place SiLU
    auto y = conv->forward(x);
    return torch::silu_(y);
  }
  return torch::silu(bn->forward(conv->forward(x)));
}

YoloBottleneckImpl::YoloBottleneckImpl(int64_t c1, int64_t c2, bool shortcut) {
  cv1 = register_module("cv1", YoloConv(c1, c2, 3, 1));  // e = 1.0: hidden width = c2
  cv2 = register_module("cv2", YoloConv(c2, c2, 3, 1));
  add = shortcut && c1 == c2;
}

torch::Tensor YoloBottleneckImpl::forward(torch::Tensor x) {
  if (add && cv2->fast) return cv2->fast->forward(cv1->forward(x), &x);  // x + silu(conv): one primitive
  auto y = cv2->forward(cv1->forward(x));
  return add ? x + y : y;
}

C2fImpl::C2fImpl(int64_t c1, int64_t c2, int64_t n, bool shortcut) : c(c2 / 2) {
  cv1 = register_module("cv1", YoloConv(c1, 2 * c, 1, 1));
  cv2 = register_module("cv2", YoloConv((2 + n) * c, c2, 1, 1));
  m = register_module("m", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) m->push_back(YoloBottleneck(c, c, shortcut));
}

torch::Tensor C2fImpl::forward(torch::Tensor x) {
  std::vector<torch::Tensor> y = cv1->forward(x).chunk(2, 1);  // two (B, c, H, W) halves
  for (size_t i = 0; i < m->size(); ++i) y.push_back(m->ptr<YoloBottleneckImpl>(i)->forward(y.back()));
  return cv2->forward(torch::cat(y, 1));  // (B, (2 + n) c, H, W) -> (B, c2, H, W)
}

SPPFImpl::SPPFImpl(int64_t c1, int64_t c2, int64_t k_) : k(k_) {
  const int64_t h = c1 / 2;
  cv1 = register_module("cv1", YoloConv(c1, h, 1, 1));
  cv2 = register_module("cv2", YoloConv(h * 4, c2, 1, 1));
}

torch::Tensor SPPFImpl::forward(torch::Tensor x) {
  auto pool = [&](const torch::Tensor& t) { return F::max_pool2d(t, F::MaxPool2dFuncOptions(k).stride(1).padding(k / 2)); };
  auto a = cv1->forward(x);
  auto b = pool(a);
  auto c = pool(b);
  auto d = pool(c);
  return cv2->forward(torch::cat({a, b, c, d}, 1));
}

DFLImpl::DFLImpl(int64_t reg_max_) : reg_max(reg_max_) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(reg_max, 1, 1).bias(false)));
  torch::NoGradGuard no_grad;
  conv->weight.copy_(torch::arange(reg_max, torch::kFloat).view({1, reg_max, 1, 1}));  // bins 0..15
  conv->weight.set_requires_grad(false);
}

torch::Tensor DFLImpl::forward(torch::Tensor x) {
  const int64_t b = x.size(0), a = x.size(2);
  auto p = x.view({b, 4, reg_max, a}).transpose(2, 1).softmax(1);  // (B, 16, 4, A)
  return conv->forward(p).view({b, 4, a});
}

DetectImpl::DetectImpl(int64_t nc_, const std::vector<int64_t>& ch) : nc(nc_) {
  FRACTURE_CHECK(nc_ > 0, "YOLOv8 Detect: nc must be positive, got ", nc_);
  FRACTURE_CHECK(ch.size() == 3, "YOLOv8 Detect: expected 3 input levels, got ", ch.size());
  const int64_t c2 = std::max<int64_t>({16, ch[0] / 4, reg_max * 4});       // box branch width
  const int64_t c3 = std::max<int64_t>(ch[0], std::min<int64_t>(nc, 100));  // class branch width
  cv2 = register_module("cv2", torch::nn::ModuleList());
  cv3 = register_module("cv3", torch::nn::ModuleList());
  for (int64_t x : ch) {
    cv2->push_back(torch::nn::Sequential(YoloConv(x, c2, 3), YoloConv(c2, c2, 3),
                                         torch::nn::Conv2d(torch::nn::Conv2dOptions(c2, 4 * reg_max, 1))));
    cv3->push_back(torch::nn::Sequential(YoloConv(x, c3, 3), YoloConv(c3, c3, 3),
                                         torch::nn::Conv2d(torch::nn::Conv2dOptions(c3, nc, 1))));
  }
  dfl = register_module("dfl", DFL(reg_max));
}

void DetectImpl::bias_init() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < cv2->size(); ++i) {
    auto box = cv2->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>();
    auto cls = cv3->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>();
    box->bias.fill_(1.0);
    const double s = stride[i];
    cls->bias.fill_(std::log(5.0 / nc / std::pow(640.0 / s, 2)));  // ~5 objects per 640 image, nc classes
  }
}

std::vector<torch::Tensor> DetectImpl::forward_raw(const std::vector<torch::Tensor>& x) {
  // One branch: Sequential(Conv, Conv, Conv2d 1x1); with fused last convs (bf16 inference) the two
  // Convs (bf16) and then the fused 1x1 conv writing fp32.
  auto branch = [](torch::nn::SequentialImpl& seq, const std::shared_ptr<OnednnConv>& last, const torch::Tensor& t) {
    if (!last) return seq.forward(t);
    return last->forward(seq.ptr<YoloConvImpl>(1)->forward(seq.ptr<YoloConvImpl>(0)->forward(t)));
  };
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < x.size(); ++i) {
    auto box = branch(*cv2->ptr<torch::nn::SequentialImpl>(i), fast_box.empty() ? nullptr : fast_box[i], x[i]);
    auto cls = branch(*cv3->ptr<torch::nn::SequentialImpl>(i), fast_cls.empty() ? nullptr : fast_cls[i], x[i]);
    out.push_back(torch::cat({box, cls}, 1));  // (B, 64 + nc, H_i, W_i)
  }
  return out;
}

torch::Tensor DetectImpl::decode(const std::vector<torch::Tensor>& raw) {
  const int64_t b = raw[0].size(0), no = 4 * reg_max + nc;
  auto [points, strides] = detect::make_anchors(raw, stride, 0.5);  // (A, 2), (A, 1)
  std::vector<torch::Tensor> flat;
  for (const auto& r : raw) flat.push_back(r.reshape({b, no, -1}));
  auto cat = torch::cat(flat, 2);                                     // (B, 64 + nc, A)
  auto box = cat.narrow(1, 0, 4 * reg_max);
  auto cls = cat.narrow(1, 4 * reg_max, nc);
  auto dist = dfl->forward(box);                                      // (B, 4, A) in strides
  auto dbox = detect::dist2bbox(dist, points.t().unsqueeze(0), /*xywh=*/true, 1) * strides.t();  // pixels
  return torch::cat({dbox, cls.sigmoid()}, 1);                        // (B, 4 + nc, A)
}

// --- model ---------------------------------------------------------------------

YoloV8Impl::YoloV8Impl(const YoloV8Options& o) : options(o), scale(yolo_scale(o.scale)) {
  FRACTURE_CHECK(o.nc > 0, "YOLOv8: nc must be positive, got ", o.nc);
  FRACTURE_CHECK(o.in_channels > 0, "YOLOv8: in_channels must be positive, got ", o.in_channels);
  auto ch = [&](int64_t c) { return make_div8(std::min(c, scale.max_channels) * scale.width); };
  auto rep = [&](int64_t n) { return std::max<int64_t>(std::lround(n * scale.depth), 1); };
  const int64_t c64 = ch(64), c128 = ch(128), c256 = ch(256), c512 = ch(512), c1024 = ch(1024);

  l0 = YoloConv(o.in_channels, c64, 3, 2);   // P1/2
  l1 = YoloConv(c64, c128, 3, 2);            // P2/4
  l2 = C2f(c128, c128, rep(3), true);
  l3 = YoloConv(c128, c256, 3, 2);           // P3/8
  l4 = C2f(c256, c256, rep(6), true);
  l5 = YoloConv(c256, c512, 3, 2);           // P4/16
  l6 = C2f(c512, c512, rep(6), true);
  l7 = YoloConv(c512, c1024, 3, 2);          // P5/32
  l8 = C2f(c1024, c1024, rep(3), true);
  l9 = SPPF(c1024, c1024, 5);
  l12 = C2f(c1024 + c512, c512, rep(3), false);
  l15 = C2f(c512 + c256, c256, rep(3), false);   // P3 out
  l16 = YoloConv(c256, c256, 3, 2);
  l18 = C2f(c256 + c512, c512, rep(3), false);   // P4 out
  l19 = YoloConv(c512, c512, 3, 2);
  l21 = C2f(c512 + c1024, c1024, rep(3), false); // P5 out
  l22 = Detect(o.nc, std::vector<int64_t>{c256, c512, c1024});

  model = register_module("model", torch::nn::ModuleList());
  model->push_back(l0);
  model->push_back(l1);
  model->push_back(l2);
  model->push_back(l3);
  model->push_back(l4);
  model->push_back(l5);
  model->push_back(l6);
  model->push_back(l7);
  model->push_back(l8);
  model->push_back(l9);
  model->push_back(YoloNoParam("upsample"));  // 10
  model->push_back(YoloNoParam("concat"));    // 11
  model->push_back(l12);
  model->push_back(YoloNoParam("upsample"));  // 13
  model->push_back(YoloNoParam("concat"));    // 14
  model->push_back(l15);
  model->push_back(l16);
  model->push_back(YoloNoParam("concat"));    // 17
  model->push_back(l18);
  model->push_back(l19);
  model->push_back(YoloNoParam("concat"));    // 20
  model->push_back(l21);
  model->push_back(l22);
  l22->bias_init();
}

std::vector<torch::Tensor> YoloV8Impl::forward_train(torch::Tensor x) {
  FRACTURE_CHECK(x.dim() == 4 && x.size(1) == options.in_channels && x.size(2) % 32 == 0 && x.size(3) % 32 == 0,
                 "YOLOv8: input must be (B, ", options.in_channels, ", H, W) with H and W multiples of 32, got ",
                 x.sizes());
  auto up = [](const torch::Tensor& t) {
    return F::interpolate(t, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
  };
  x = l1->forward(l0->forward(x));
  auto p3 = l4->forward(l3->forward(l2->forward(x)));       // layer 4 (stride 8)
  auto p4 = l6->forward(l5->forward(p3));                   // layer 6 (stride 16)
  auto p5 = l9->forward(l8->forward(l7->forward(p4)));      // layer 9 (stride 32)
  auto h12 = l12->forward(torch::cat({up(p5), p4}, 1));     // 10, 11, 12
  auto h15 = l15->forward(torch::cat({up(h12), p3}, 1));    // 13, 14, 15
  auto h18 = l18->forward(torch::cat({l16->forward(h15), h12}, 1));  // 16, 17, 18
  auto h21 = l21->forward(torch::cat({l19->forward(h18), p5}, 1));   // 19, 20, 21
  return l22->forward_raw({h15, h18, h21});
}

torch::Tensor YoloV8Impl::forward(torch::Tensor x) {
  auto raw = forward_train(x);
  if (!is_training()) return l22->decode(raw);
  const int64_t b = x.size(0), no = 4 * l22->reg_max + options.nc;
  std::vector<torch::Tensor> flat;
  for (const auto& r : raw) flat.push_back(r.reshape({b, no, -1}));
  return torch::cat(flat, 2);  // (B, 64 + nc, A) logits
}

void YoloV8Impl::train(bool on) {
  FRACTURE_CHECK(!(on && inference_only_),
                 "YOLOv8: this model was optimised for inference (BatchNorm folded) and cannot be trained");
  torch::nn::Module::train(on);
}

void optimize_for_inference(YoloV8Impl& net, const InferenceOptions& options) {
  FRACTURE_CHECK(!net.inference_only(), "optimize_for_inference: the YOLOv8 model is already optimised");
  const bool fast = uses_onednn(options, net);  // before anything changes: a refusal leaves the model as it was
  FRACTURE_CHECK(!options.bf16 || fast, "optimize_for_inference: bf16 needs the fused oneDNN path: channels_last, ",
                 "fold_bn and onednn on, an fp32 CPU model and a build with oneDNN (this one ",
                 OnednnConv::available() ? "has it" : "has not", ")");
  net.eval();
  if (options.fold_bn) {
    for (auto& m : net.modules(/*include_self=*/false)) {
      if (auto* c = m->as<YoloConvImpl>()) {
        fold_conv_bn(*c->conv, *c->bn);
        c->fused = true;
      }
    }
  }
  if (options.channels_last) weights_to_channels_last(net);
  std::string no_bf16;
  const bool bf16 = options.bf16 && bf16_supported(&no_bf16, options.bf16_emulation);
  if (options.bf16 && !bf16 && options.log) options.log->warn("precision=bf16: {}; running fp32 instead", no_bf16);
  if (fast) {
    OnednnConvSpec silu;
    silu.act = OnednnAct::silu;
    silu.bf16 = bf16;
    silu.log = options.log;
    silu.winograd = options.winograd;
    silu.winograd_tune = options.winograd_tune;
    for (auto& m : net.modules(/*include_self=*/false)) {
      if (auto* c = m->as<YoloConvImpl>()) c->fast = make_onednn_conv(*c->conv, silu);
    }
    if (bf16) {  // the head's last convs write fp32, so decoding and NMS stay fp32
      auto& d = *net.l22;
      OnednnConvSpec last;  // no activation, bf16 in, fp32 out
      last.bf16 = true;
      last.fp32_out = true;
      last.log = options.log;
      for (size_t i = 0; i < d.cv2->size(); ++i) {
        auto box = d.cv2->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>();
        auto cls = d.cv3->ptr<torch::nn::SequentialImpl>(i)->ptr(2)->as<torch::nn::Conv2d>();
        d.fast_box.push_back(make_onednn_conv(*box, last));
        d.fast_cls.push_back(make_onednn_conv(*cls, last));
      }
    }
  }
  net.set_inference_only();
}

LoadReport load_yolov8_weights(YoloV8Impl& net, const std::filesystem::path& path, bool strict) {
  NamedTensors tensors = read_checkpoint(path);
  LoadOptions o;
  o.head_prefix = "model.22.cv3.";  // class branch: only shape-changed keys keep the fresh init
  o.strict = strict;
  o.source = path.string();
  return load_state_dict(net, tensors, o);
}

}  // namespace fracture::models
