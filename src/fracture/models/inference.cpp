#include "fracture/models/inference.h"

#include "fracture/core/error.h"
#include "fracture/core/log.h"
#include "fracture/models/kernels/cpu_isa.h"
#include "fracture/models/kernels/squeeze_excite.h"
#include "fracture/models/layers.h"
#include "fracture/models/mobilenet_v3.h"
#include "fracture/models/resnet.h"

namespace fracture::models {

void fold_conv_bn(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard ng;
  const int64_t out = conv.weight.size(0);
  FRACTURE_CHECK(bn.running_mean.defined() && bn.running_var.defined(),
                 "fold_conv_bn: BatchNorm has no running statistics (track_running_stats off)");
  FRACTURE_CHECK(bn.running_mean.numel() == out, "fold_conv_bn: conv has ", out, " output channels but BatchNorm has ",
                 bn.running_mean.numel());
  auto dt = conv.weight.scalar_type();
  auto var = bn.running_var.to(torch::kFloat64);
  auto mean = bn.running_mean.to(torch::kFloat64);
  auto gamma = bn.weight.defined() ? bn.weight.to(torch::kFloat64) : torch::ones_like(var);
  auto beta = bn.bias.defined() ? bn.bias.to(torch::kFloat64) : torch::zeros_like(var);
  auto scale = gamma / torch::sqrt(var + bn.options.eps());  // (out,)
  auto b = conv.bias.defined() ? conv.bias.to(torch::kFloat64) : torch::zeros_like(var);
  auto w = conv.weight.to(torch::kFloat64) * scale.view({out, 1, 1, 1});
  conv.weight.set_data(w.to(dt));
  auto new_bias = (beta + (b - mean) * scale).to(dt);
  if (conv.bias.defined()) {
    conv.bias.set_data(new_bias);
  } else {
    // libtorch registers an undefined "bias" that cannot be replaced: Conv2dImpl::forward reads the
    // member, so the folded bias lives there, outside parameters() and the state dict.
    conv.bias = new_bias;
  }
}

namespace {
// Folds every (Conv2d, BatchNorm2d) pair of consecutive children of a Seq and marks the BN skipped.
void fold_seq(SeqImpl& seq) {
  auto kids = seq.children();
  std::vector<bool> skip(kids.size(), false);
  bool any = false;
  for (size_t i = 0; i + 1 < kids.size(); ++i) {
    auto* conv = kids[i]->as<torch::nn::Conv2d>();
    auto* bn = kids[i + 1]->as<torch::nn::BatchNorm2d>();
    if (conv && bn) {
      fold_conv_bn(*conv, *bn);
      skip[i + 1] = true;
      any = true;
    }
  }
  if (any) seq.skip = skip;
}
}  // namespace

bool uses_onednn(const InferenceOptions& options) {
  return options.onednn && options.channels_last && options.fold_bn && OnednnConv::available();
}

namespace {
bool fp32_cpu_parameters(torch::nn::Module& net) {
  for (const auto& p : net.parameters()) {
    if (!p.device().is_cpu() || p.scalar_type() != torch::kFloat32) return false;
  }
  return true;
}
}  // namespace

bool uses_onednn(const InferenceOptions& options, torch::nn::Module& net) {
  return uses_onednn(options) && fp32_cpu_parameters(net);
}

std::shared_ptr<OnednnConv> make_onednn_conv(const torch::nn::Conv2dImpl& conv, OnednnConvSpec s) {
  const auto& o = conv.options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  FRACTURE_CHECK(pad && (*pad)->at(0) == (*pad)->at(1) && o.stride()->at(0) == o.stride()->at(1) &&
                     o.dilation()->at(0) == o.dilation()->at(1) && c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr,
                 "make_onednn_conv: only square stride/padding/dilation with zero padding are supported");
  s.stride = o.stride()->at(0);
  s.padding = (*pad)->at(0);
  s.dilation = o.dilation()->at(0);
  s.groups = o.groups();
  return std::make_shared<OnednnConv>(conv.weight, conv.bias, s);
}

bool bf16_supported(std::string* why, bool allow_emulation) {
  const CpuIsa& isa = cpu_isa();
  if (isa.bf16 == Bf16Support::native || (allow_emulation && isa.bf16 == Bf16Support::emulated)) return true;
  if (why) {
    *why = isa.bf16 == Bf16Support::emulated
               ? "this CPU (oneDNN ISA " + isa.onednn +
                     ") has no bf16 instructions; oneDNN's emulated bf16 convolutions are slower than fp32 here"
               : "oneDNN has no bf16 convolution for this CPU (ISA " + isa.onednn + "; it needs AVX-512)";
  }
  return false;
}

namespace {
OnednnAct onednn_act(Act a, bool* ok) {
  *ok = true;
  switch (a) {
    case Act::none: return OnednnAct::none;
    case Act::relu: return OnednnAct::relu;
    case Act::hardswish: return OnednnAct::hardswish;
    case Act::silu: return OnednnAct::silu;
    case Act::sigmoid: return OnednnAct::sigmoid;
    case Act::hardsigmoid: break;  // oneDNN 2.6 has no hardsigmoid eltwise
  }
  *ok = false;
  return OnednnAct::none;
}

// Seq children (conv, folded BN[, activation]) -> one fused oneDNN convolution at the conv's index,
// with `base`'s other settings.
void fuse_seq_onednn(SeqImpl& seq, const OnednnConvSpec& base) {
  if (seq.skip.empty()) return;  // nothing folded here
  auto kids = seq.children();
  seq.fast.assign(kids.size(), nullptr);
  for (size_t i = 0; i + 1 < kids.size(); ++i) {
    auto* conv = kids[i]->as<torch::nn::Conv2d>();
    if (!conv || !seq.skip[i + 1]) continue;  // a conv whose BN was folded
    OnednnAct act = OnednnAct::none;
    bool fuse_act = false;
    if (i + 2 < kids.size()) {
      if (auto* a = kids[i + 2]->as<ActivationImpl>()) act = onednn_act(a->act, &fuse_act);
    }
    if (!fuse_act) act = OnednnAct::none;
    OnednnConvSpec s = base;
    s.act = act;
    seq.fast[i] = make_onednn_conv(*conv, s);
    if (fuse_act) seq.skip[i + 2] = true;
  }
}
}  // namespace

void optimize_for_inference(ClassifierImpl& net, const InferenceOptions& options) {
  FRACTURE_CHECK(!net.inference_only(), "optimize_for_inference: ", net.arch(), " is already optimised");
  FRACTURE_CHECK(!options.bf16, "optimize_for_inference: bf16 inference is built for the YOLOv8 detector only, not ",
                 net.arch());
  FRACTURE_CHECK(options.batch_slice >= -1,
                 "optimize_for_inference: batch_slice must be >= 0, or -1 for the architecture's default; got ",
                 options.batch_slice);
  net.eval();
  if (options.fold_bn) {
    for (auto& m : net.modules(/*include_self=*/true)) {
      if (auto* seq = m->as<SeqImpl>()) {
        fold_seq(*seq);
      } else if (auto* block = m->as<BasicBlockImpl>()) {
        fold_conv_bn(*block->conv1, *block->bn1);
        fold_conv_bn(*block->conv2, *block->bn2);
        block->bn_folded = true;
      } else if (auto* resnet = m->as<ResNet18Impl>()) {
        fold_conv_bn(*resnet->conv1, *resnet->bn1);
        resnet->bn_folded = true;
      }
    }
  }
  if (options.channels_last) weights_to_channels_last(net);
  if (options.channels_last && fp32_cpu_parameters(net)) {
    for (auto& m : net.modules(/*include_self=*/true)) {
      if (auto* se = m->as<SqueezeExcitationImpl>())
        se->fast = std::make_shared<SqueezeExciteKernel>(se->fc1->weight, se->fc1->bias, se->fc2->weight,
                                                         se->fc2->bias, se->act, se->scale_act);
    }
  }
  if (uses_onednn(options, net)) {
    OnednnConvSpec base;
    base.winograd = options.winograd;
    base.winograd_tune = options.winograd_tune;
    base.log = options.log;
    OnednnConvSpec relu = base;
    relu.act = OnednnAct::relu;
    OnednnConvSpec relu_of_sum = relu;  // ResNet's relu(conv2 + identity)
    relu_of_sum.add_after_act = false;
    for (auto& m : net.modules(/*include_self=*/true)) {
      if (auto* seq = m->as<SeqImpl>()) {
        fuse_seq_onednn(*seq, base);
      } else if (auto* block = m->as<BasicBlockImpl>()) {
        block->fast1 = make_onednn_conv(*block->conv1, relu);
        block->fast2 = make_onednn_conv(*block->conv2, relu_of_sum);
      } else if (auto* resnet = m->as<ResNet18Impl>()) {
        resnet->fast_stem = make_onednn_conv(*resnet->conv1, relu);  // 7x7 stride 2: never Winograd
      } else if (auto* mobile = m->as<MobileNetV3SmallImpl>()) {
        // Linear (O, K) as a 1x1 convolution (O, K, 1, 1): the same multiply-adds.
        auto as_conv = [&](size_t i, OnednnAct act) {
          auto* lin = mobile->classifier->ptr(i)->as<torch::nn::LinearImpl>();
          FRACTURE_CHECK(lin, "optimize_for_inference: mobilenet_v3_small classifier.", i, " is not a Linear");
          OnednnConvSpec s = base;
          s.act = act;
          s.winograd = false;
          return std::make_shared<OnednnConv>(lin->weight.reshape({lin->weight.size(0), lin->weight.size(1), 1, 1}),
                                              lin->bias, s);
        };
        mobile->fast_fc1 = as_conv(0, OnednnAct::hardswish);
        mobile->fast_fc2 = as_conv(3, OnednnAct::none);
      }
    }
  }
  net.set_batch_slice(options.batch_slice < 0 ? net.default_batch_slice() : options.batch_slice);
  net.set_inference_only();
}

void weights_to_channels_last(torch::nn::Module& net) {
  torch::NoGradGuard ng;
  for (auto& p : net.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

bool weights_are_channels_last(const torch::nn::Module& net) {
  for (const auto& p : net.parameters())
    if (p.dim() == 4 && !p.is_contiguous(torch::MemoryFormat::ChannelsLast)) return false;
  return true;
}

torch::Tensor inference_input(const torch::Tensor& x, const InferenceOptions& options) {
  if (options.channels_last && x.dim() == 4) return x.contiguous(torch::MemoryFormat::ChannelsLast);
  return x;
}

}  // namespace fracture::models
