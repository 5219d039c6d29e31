#include "fracture/models/onednn_conv.h"

#include <map>
#include <mutex>
#include <tuple>

#include "fracture/core/error.h"
#include "fracture/models/winograd.h"

#if defined(FRACTURE_WITH_ONEDNN)
#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace fracture::models {

#if defined(FRACTURE_WITH_ONEDNN)

namespace {
using dnnl::memory;
using Dims = memory::dims;

// oneDNN 2.6 eltwise algorithm and (alpha, beta) for each activation (torch definitions:
// silu = x * sigmoid(x) = swish with alpha 1; oneDNN 2.6's hardswish is x * relu6(x + 3) / 6 and
// ignores alpha and beta, as torch's).
std::tuple<dnnl::algorithm, float, float> eltwise(OnednnAct a) {
  switch (a) {
    case OnednnAct::relu: return {dnnl::algorithm::eltwise_relu, 0.f, 0.f};
    case OnednnAct::silu: return {dnnl::algorithm::eltwise_swish, 1.f, 0.f};
    case OnednnAct::hardswish: return {dnnl::algorithm::eltwise_hardswish, 0.f, 0.f};
    case OnednnAct::sigmoid: return {dnnl::algorithm::eltwise_logistic, 0.f, 0.f};
    case OnednnAct::none: break;
  }
  return {dnnl::algorithm::undef, 0.f, 0.f};
}

Dims dims_of(const torch::Tensor& t) { return Dims(t.sizes().begin(), t.sizes().end()); }
}  // namespace

struct OnednnConv::Impl {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  torch::Tensor weight;  // (O, I/g, kh, kw) contiguous fp32
  torch::Tensor bias;    // (O,) fp32, zeros when the conv had none
  OnednnConvSpec spec;
  struct Entry {
    dnnl::convolution_forward prim;
    memory weights;  // reordered once into prim's layout
    memory::desc scratch;
    Dims dst;
    std::string impl;
  };
  mutable std::mutex mu;
  mutable std::map<std::pair<Dims, bool>, std::shared_ptr<Entry>> cache;  // (input dims, has skip)
  mutable std::string last_impl;

  memory::data_type src_type() const { return spec.bf16 ? memory::data_type::bf16 : memory::data_type::f32; }
  memory::data_type dst_type() const {
    return spec.bf16 && !spec.fp32_out ? memory::data_type::bf16 : memory::data_type::f32;
  }
  torch::ScalarType src_scalar() const { return spec.bf16 ? torch::kBFloat16 : torch::kFloat32; }
  torch::ScalarType dst_scalar() const { return spec.bf16 && !spec.fp32_out ? torch::kBFloat16 : torch::kFloat32; }

  std::shared_ptr<Entry> entry(const Dims& src, bool with_skip) const {
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_pair(src, with_skip);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const int64_t o = weight.size(0), kh = weight.size(2), kw = weight.size(3), g = spec.groups;
    const int64_t s = spec.stride, p = spec.padding, d = spec.dilation;
    auto out = [&](int64_t in, int64_t k) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; };
    Dims dst{src[0], o, out(src[2], kh), out(src[3], kw)};
    FRACTURE_CHECK(dst[2] > 0 && dst[3] > 0, "OnednnConv: input ", src[2], "x", src[3], " is too small for kernel ",
                   kh, "x", kw);
    Dims wdims = g == 1 ? Dims{o, weight.size(1), kh, kw} : Dims{g, o / g, weight.size(1), kh, kw};
    auto f32 = memory::data_type::f32;
    const auto in_dt = src_type(), out_dt = dst_type();
    memory::desc src_md(src, in_dt, memory::format_tag::nhwc), dst_md(dst, out_dt, memory::format_tag::nhwc);
    memory::desc w_any(wdims, in_dt, memory::format_tag::any), b_md({o}, f32, memory::format_tag::x);
    dnnl::post_ops po;
    auto [alg, alpha, beta] = eltwise(spec.act);
    const bool act = spec.act != OnednnAct::none;
    if (with_skip && !spec.add_after_act) po.append_binary(dnnl::algorithm::binary_add, dst_md);
    if (act) po.append_eltwise(1.f, alg, alpha, beta);
    if (with_skip && spec.add_after_act) po.append_binary(dnnl::algorithm::binary_add, dst_md);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per-call scratchpad: concurrent calls are safe
    dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
                                       w_any, b_md, dst_md, {s, s}, {d - 1, d - 1}, {p, p}, {p, p});
    dnnl::convolution_forward::primitive_desc pd;
    try {
      pd = dnnl::convolution_forward::primitive_desc(cd, attr, eng);
    } catch (const dnnl::error& err) {
      FRACTURE_FAIL("OnednnConv: oneDNN has no ", spec.bf16 ? "bf16" : "fp32", " convolution for this CPU and shape (",
                    err.what(), ")", spec.bf16 ? "; bf16 needs a CPU with AVX-512" : "");
    }
    auto e = std::make_shared<Entry>();
    e->prim = dnnl::convolution_forward(pd);
    e->dst = dst;
    e->impl = pd.impl_info_str();
    e->scratch = pd.scratchpad_desc();
    memory::desc w_user(wdims, f32, g == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    memory user(w_user, eng, weight.data_ptr());
    e->weights = memory(pd.weights_desc(), eng);
    dnnl::stream st(eng);
    dnnl::reorder(user, e->weights).execute(st, user, e->weights);
    st.wait();
    cache.emplace(key, e);
    return e;
  }
};

bool OnednnConv::available() { return true; }

OnednnConv::OnednnConv(const torch::Tensor& weight, const torch::Tensor& bias, const OnednnConvSpec& spec)
    : impl_(std::make_unique<Impl>()) {
  FRACTURE_CHECK(weight.dim() == 4, "OnednnConv: weight must be (O, I/groups, kh, kw), got ", weight.sizes());
  FRACTURE_CHECK(spec.groups >= 1 && weight.size(0) % spec.groups == 0, "OnednnConv: ", weight.size(0),
                 " output channels are not divisible by groups ", spec.groups);
  FRACTURE_CHECK(spec.stride >= 1 && spec.dilation >= 1 && spec.padding >= 0, "OnednnConv: bad stride/dilation/padding");
  torch::NoGradGuard ng;
  impl_->weight = weight.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
  impl_->bias = bias.defined() ? bias.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone()
                               : torch::zeros({weight.size(0)}, torch::kFloat32);
  FRACTURE_CHECK(impl_->bias.numel() == weight.size(0), "OnednnConv: bias has ", impl_->bias.numel(),
                 " values for ", weight.size(0), " output channels");
  impl_->spec = spec;
  winograd_ok_ = spec.winograd && !spec.bf16 && WinogradConv::supports(weight, spec.stride, spec.dilation, spec.groups);
}

OnednnConv::~OnednnConv() = default;

torch::Tensor OnednnConv::forward(const torch::Tensor& x_in, const torch::Tensor* skip) const {
  FRACTURE_CHECK(x_in.dim() == 4 && x_in.device().is_cpu() &&
                     (x_in.scalar_type() == torch::kFloat32 ||
                      (impl_->spec.bf16 && x_in.scalar_type() == torch::kBFloat16)),
                 "OnednnConv: input must be a (B, C, H, W) ", impl_->spec.bf16 ? "fp32 or bf16" : "fp32",
                 " CPU tensor, got ", x_in.sizes(), " ", x_in.scalar_type(), " on ", x_in.device());
  const int64_t in_ch = impl_->weight.size(1) * impl_->spec.groups;
  FRACTURE_CHECK(x_in.size(1) == in_ch, "OnednnConv: input has ", x_in.size(1), " channels, the weight expects ",
                 in_ch);
  if (winograd_ok_ && x_in.scalar_type() == torch::kFloat32) {
    const int64_t p = impl_->spec.padding;
    if (WinogradConv::pays(in_ch, impl_->weight.size(0), x_in.size(0), x_in.size(2) + 2 * p - 2,
                           x_in.size(3) + 2 * p - 2)) {
      std::shared_ptr<WinogradConv> w;
      {
        // Built at the first shape where it pays: its transformed weights are 36/9 = 4x the
        // weight's size (resnet18's layer4 at 224 px never pays: 113 MiB not spent).
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (!winograd_)
          winograd_ = std::make_shared<WinogradConv>(impl_->weight, impl_->bias, p, impl_->spec.act,
                                                     impl_->spec.add_after_act);
        w = winograd_;
        impl_->last_impl = "winograd_f4x3";
      }
      return w->forward(x_in, skip);
    }
  }
  torch::Tensor x = x_in.to(impl_->src_scalar()).contiguous(torch::MemoryFormat::ChannelsLast);  // no-op when so
  auto e = impl_->entry(dims_of(x), skip != nullptr);
  auto y = torch::empty(e->dst, x.options().dtype(impl_->dst_scalar()).memory_format(torch::MemoryFormat::ChannelsLast));
  auto f32 = memory::data_type::f32;
  memory::desc src_md(dims_of(x), impl_->src_type(), memory::format_tag::nhwc);
  memory::desc dst_md(e->dst, impl_->dst_type(), memory::format_tag::nhwc);
  memory src(src_md, impl_->eng, x.data_ptr()), dst(dst_md, impl_->eng, y.data_ptr());
  memory b(memory::desc({impl_->weight.size(0)}, f32, memory::format_tag::x), impl_->eng, impl_->bias.data_ptr());
  auto scratch = torch::empty({static_cast<int64_t>(e->scratch.get_size())}, torch::kUInt8);
  memory pad(e->scratch, impl_->eng, scratch.data_ptr());
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src},     {DNNL_ARG_WEIGHTS, e->weights}, {DNNL_ARG_BIAS, b},
                                       {DNNL_ARG_DST, dst},     {DNNL_ARG_SCRATCHPAD, pad}};
  torch::Tensor s;
  if (skip) {
    FRACTURE_CHECK(skip->sizes() == y.sizes(), "OnednnConv: residual has shape ", skip->sizes(), ", the output ",
                   y.sizes());
    s = skip->to(impl_->dst_scalar()).contiguous(torch::MemoryFormat::ChannelsLast);  // no-op when so
    const int index = (impl_->spec.add_after_act && impl_->spec.act != OnednnAct::none) ? 1 : 0;
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, memory(dst_md, impl_->eng, s.data_ptr()));
  }
  dnnl::stream st(impl_->eng);
  e->prim.execute(st, args);
  st.wait();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->last_impl = e->impl;
  }
  return y;
}

std::string OnednnConv::implementation() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_impl;
}

#else  // !FRACTURE_WITH_ONEDNN

struct OnednnConv::Impl {};
bool OnednnConv::available() { return false; }
OnednnConv::OnednnConv(const torch::Tensor&, const torch::Tensor&, const OnednnConvSpec&) {
  FRACTURE_FAIL("OnednnConv: this build has no oneDNN (configure with -DFRACTURE_WITH_ONEDNN=ON and libdnnl-dev)");
}
OnednnConv::~OnednnConv() = default;
torch::Tensor OnednnConv::forward(const torch::Tensor&, const torch::Tensor*) const { return {}; }
std::string OnednnConv::implementation() const { return ""; }

#endif

}  // namespace fracture::models
