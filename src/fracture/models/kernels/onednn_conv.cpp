#include "fracture/models/kernels/onednn_conv.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "fracture/core/error.h"
#include "fracture/core/log.h"
#include "fracture/models/kernels/cpu_isa.h"
#include "fracture/models/kernels/activation.h"
#include "fracture/models/kernels/winograd.h"

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

// One CPU engine for every convolution, and one stream per thread on it: creating them took a
// measurable share of a small convolution's call (MobileNetV3 runs 36 per image).
const dnnl::engine& cpu_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}
dnnl::stream& thread_stream() {
  thread_local dnnl::stream st(cpu_engine());
  return st;
}

// The scratchpad of this thread's convolutions, grown to the largest one asked for and kept: one
// execute at a time per thread, so one buffer serves every convolution the thread runs. A fresh
// allocation per call went through malloc's bins (they are over its small-block caches) and showed
// in profiles of batch-1 inference.
// slot 0: the scratchpad; slot 1: the scaled weights of forward_scaled.
void* thread_scratch(size_t bytes, int slot = 0) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer bufs[2];
  Buffer& buf = bufs[slot];
  if (bytes > buf.size) {
    std::free(buf.p);
    buf.p = nullptr;
    buf.size = 0;
    const size_t rounded = (bytes + 63) / 64 * 64;
    buf.p = std::aligned_alloc(64, rounded);
    FRACTURE_CHECK(buf.p, "OnednnConv: could not allocate a ", rounded, "-byte scratchpad");
    buf.size = rounded;
  }
  return buf.p;
}
}  // namespace

struct OnednnConv::Impl {
  const dnnl::engine& eng = cpu_engine();
  torch::Tensor weight;  // (O, I/g, kh, kw) contiguous fp32
  torch::Tensor bias;    // (O,) fp32, zeros when the conv had none
  OnednnConvSpec spec;
  torch::Tensor weight_cl;  // the weight channels-last, for the ATen fallback
  // How the residual reaches the output.
  enum class Residual {
    binary,  // binary-add post-op reading the skip tensor (jit / brgconv / jit_1x1 / jit_dw kernels)
    sum,     // sum post-op: dst pre-filled with a copy of the skip (beta = 1 in gemm's sgemm)
    after,   // the primitive computes act(conv + b) and ATen adds the skip afterwards
    none,    // no residual in this call
  };
  struct Entry {
    dnnl::convolution_forward prim;
    memory weights;  // reordered once into prim's layout
    memory::desc scratch;
    memory::desc src_md, dst_md;  // NHWC, of this entry's dims
    memory bias;                  // over Impl::bias (read-only, shared by concurrent calls)
    Dims dst;
    std::string impl;          // oneDNN's implementation name, or "aten"
    Residual residual = Residual::none;  // how a residual is added (with_skip entries)
    bool silu_after = false;   // fp32 SiLU without a residual: our silu_inplace after the primitive
    bool aten = false;         // no trustworthy fused primitive: ATen's ops
    std::string why;           // why aten
    // The execute() arguments of one call: memory objects made once and pointed at each call's
    // buffers with set_data_handle. Each dnnl::memory holds a memory descriptor of about 1 KiB, so
    // making five per call cost five trips through malloc's bins; a batch-1 MobileNetV3 at 32 px
    // spent 16 % of its time in malloc/free. A pool, not one set: calls may run concurrently.
    struct Call {
      memory src, dst, skip, scratch, weights;  // weights: over Entry::weights, or a scaled copy
      std::unordered_map<int, memory> args;
    };
    std::mutex calls_mu;
    std::vector<std::unique_ptr<Call>> calls;  // idle ones
    // forward_scaled: the input channel of each element of `weights` in its blocked layout (found
    // by reordering a weight whose values are their input channel), made at the first such call.
    std::once_flag in_channel_once;
    std::vector<int32_t> in_channel;
  };
  mutable std::mutex mu;
  mutable std::map<std::pair<Dims, bool>, std::shared_ptr<Entry>> cache;  // (input dims, has skip)
  mutable std::atomic<const std::string*> last_impl{nullptr};  // an Entry's impl or winograd_name
  mutable std::string winograd_name;                           // set once, under mu, with winograd_

  memory::data_type src_type() const { return spec.bf16 ? memory::data_type::bf16 : memory::data_type::f32; }
  memory::data_type dst_type() const {
    return spec.bf16 && !spec.fp32_out ? memory::data_type::bf16 : memory::data_type::f32;
  }
  torch::ScalarType src_scalar() const { return spec.bf16 ? torch::kBFloat16 : torch::kFloat32; }
  torch::ScalarType dst_scalar() const { return spec.bf16 && !spec.fp32_out ? torch::kBFloat16 : torch::kFloat32; }

  // A oneDNN primitive for (src dims, residual or not). Which implementation oneDNN picks depends on
  // the CPU (and ONEDNN_MAX_CPU_ISA), the shape and the post-ops; only those checked right for the
  // fused form are used (models_test runs every kind under the AVX2 and SSE4.1 caps too):
  //  - jit / brgconv / jit_1x1 / jit_dw kernels: the residual as a binary-add post-op;
  //  - gemm (im2col + sgemm; oneDNN picks it for grouped convolutions without AVX-512): oneDNN 2.6's
  //    NHWC gemm convolution gives a binary post-op the logical offset (g * OC/g + oc) * OH * OW,
  //    the offset of channel oc at pixel 0 of image 0 (src/cpu/gemm_convolution.cpp,
  //    execute_forward_thr_nspc): right for a per-channel operand, wrong for a full residual (every
  //    pixel adds the first pixel's value; measured off by up to 6.4). Its sum post-op is right but
  //    must come first (act(conv + skip)); for act(conv) + skip ATen adds the skip after the primitive;
  //  - ref (reference loops, many times slower) or no implementation at all: ATen's convolution.
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
    auto e = std::make_shared<Entry>();
    e->dst = dst;
    Dims wdims = g == 1 ? Dims{o, weight.size(1), kh, kw} : Dims{g, o / g, weight.size(1), kh, kw};
    auto f32 = memory::data_type::f32;
    const auto in_dt = src_type(), out_dt = dst_type();
    memory::desc src_md(src, in_dt, memory::format_tag::nhwc), dst_md(dst, out_dt, memory::format_tag::nhwc);
    memory::desc w_any(wdims, in_dt, memory::format_tag::any), b_md({o}, f32, memory::format_tag::x);
    // oneDNN 2.6's swish post-op cost more than the primitive without it plus our pass over the
    // output (activation.h), with AVX2 or AVX-512 (our baseline copy is slower); with a residual
    // the post-op order matters, so the swish stays there.
    e->silu_after = spec.act == OnednnAct::silu && !spec.bf16 && !with_skip && cpu_isa().simd != SimdLevel::baseline;
    const bool act = spec.act != OnednnAct::none && !e->silu_after;
    // The primitive for `how`, or none when oneDNN has nothing (or only its reference kernel) for it.
    auto make_pd = [&](Residual how, std::string* why) -> std::optional<dnnl::convolution_forward::primitive_desc> {
      dnnl::post_ops po;
      auto [alg, alpha, beta] = eltwise(spec.act);
      auto add_skip = [&] {
        if (how == Residual::sum)
          po.append_sum(1.f);
        else if (how == Residual::binary)
          po.append_binary(dnnl::algorithm::binary_add, dst_md);
      };
      if (!spec.add_after_act || !act) add_skip();
      if (act) po.append_eltwise(1.f, alg, alpha, beta);
      if (spec.add_after_act && act) add_skip();
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per-call scratchpad: concurrent calls are safe
      dnnl::convolution_forward::desc cd(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src_md, w_any, b_md, dst_md, {s, s}, {d - 1, d - 1}, {p, p}, {p, p});
      try {
        dnnl::convolution_forward::primitive_desc pd(cd, attr, eng);
        if (std::string(pd.impl_info_str()).rfind("ref", 0) != 0) return pd;
        *why = std::string("oneDNN offers only its reference kernel ") + pd.impl_info_str();
      } catch (const dnnl::error& err) {
        *why = std::string("oneDNN has no ") + (spec.bf16 ? "bf16" : "fp32") + " convolution for it (" + err.what() + ")";
      }
      return std::nullopt;
    };
    std::optional<dnnl::convolution_forward::primitive_desc> pd;
    std::string why;
    if (!with_skip) {
      pd = make_pd(Residual::none, &why);
    } else {
      pd = make_pd(Residual::binary, &why);
      e->residual = Residual::binary;
      std::string reason = why;
      if (pd && std::string(pd->impl_info_str()).find("gemm") != std::string::npos) {
        reason = std::string(pd->impl_info_str()) + ": oneDNN 2.6's NHWC gemm convolution misplaces a full-tensor binary post-op";
        pd.reset();
      }
      const bool sum_first = !spec.add_after_act || !act;  // oneDNN's sum post-op must come first
      if (!pd && sum_first) {
        pd = make_pd(Residual::sum, &why);
        e->residual = Residual::sum;
      }
      if (!pd && !sum_first) {
        pd = make_pd(Residual::none, &why);
        e->residual = Residual::after;
      }
      if (pd && e->residual != Residual::binary)
        note(describe(src) + ": residual add " + (e->residual == Residual::sum ? "as a sum post-op" : "by ATen after") +
             " on " + pd->impl_info_str() + " (" + reason + ")");
    }
    if (!pd) {
      e->aten = true;
      e->impl = "aten";
      note(describe(src) + ": ATen's convolution instead of a fused oneDNN one: " + why);
      cache.emplace(key, e);
      return e;
    }
    e->prim = dnnl::convolution_forward(*pd);
    e->impl = pd->impl_info_str();
    e->scratch = pd->scratchpad_desc();
    e->src_md = src_md;
    e->dst_md = dst_md;
    e->bias = memory(b_md, eng, bias.data_ptr());
    memory::desc w_user(wdims, f32, g == 1 ? memory::format_tag::oihw : memory::format_tag::goihw);
    memory user(w_user, eng, weight.data_ptr());
    e->weights = memory(pd->weights_desc(), eng);
    dnnl::stream st(eng);
    dnnl::reorder(user, e->weights).execute(st, user, e->weights);
    st.wait();
    cache.emplace(key, e);
    return e;
  }

  // For each element of e.weights (oneDNN's blocked layout, padding included), the input channel
  // it multiplies: a weight holding its own input channel index, reordered the same way (exact in
  // fp32 below 2^24 channels; padding comes out 0). fp32 groups-1 entries only.
  std::vector<int32_t> blocked_in_channels(const Entry& e) const {
    const int64_t o = weight.size(0), i = weight.size(1), kh = weight.size(2), kw = weight.size(3);
    auto index = torch::arange(i, torch::kFloat32).view({1, i, 1, 1}).expand({o, i, kh, kw}).contiguous();
    memory user(memory::desc({o, i, kh, kw}, memory::data_type::f32, memory::format_tag::oihw), eng, index.data_ptr());
    memory blocked(e.weights.get_desc(), eng);
    dnnl::stream st(eng);
    dnnl::reorder(user, blocked).execute(st, user, blocked);
    st.wait();
    const size_t n = e.weights.get_desc().get_size() / sizeof(float);
    const float* b = static_cast<const float*>(blocked.get_data_handle());
    std::vector<int32_t> channel(n);
    for (size_t j = 0; j < n; ++j) channel[j] = static_cast<int32_t>(b[j]);
    return channel;
  }

  // "conv 8->16 k3 s1 p1 d1 g4 on 1x8x19x13" for the debug notes.
  std::string describe(const Dims& src) const {
    std::ostringstream m;
    m << "OnednnConv " << weight.size(1) * spec.groups << "->" << weight.size(0) << " k" << weight.size(2) << " s"
      << spec.stride << " p" << spec.padding << " d" << spec.dilation << " g" << spec.groups << " on " << src[0] << "x"
      << src[1] << "x" << src[2] << "x" << src[3];
    return m.str();
  }

  // Each distinct note once per process, at debug level, to the logger in the spec (if any).
  void note(const std::string& what) const {
    if (!spec.log) return;
    static std::mutex said_mu;
    static std::set<std::string> said;
    std::lock_guard<std::mutex> lock(said_mu);
    if (said.insert(what).second) spec.log->debug("{}", what);
  }

  // The same computation with ATen's ops (fp32; the result cast to the destination type).
  torch::Tensor aten_forward(const torch::Tensor& x_in, const torch::Tensor* skip) const {
    torch::Tensor x = x_in.to(torch::kFloat32).contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor y = torch::conv2d(x, weight_cl, bias, spec.stride, spec.padding, spec.dilation, spec.groups);
    if (skip && !spec.add_after_act) y = y + skip->to(torch::kFloat32);
    switch (spec.act) {
      case OnednnAct::relu: y = torch::relu(y); break;
      case OnednnAct::silu: y = torch::silu(y); break;
      case OnednnAct::hardswish: y = torch::hardswish(y); break;
      case OnednnAct::sigmoid: y = torch::sigmoid(y); break;
      case OnednnAct::none: break;
    }
    if (skip && spec.add_after_act) y = y + skip->to(torch::kFloat32);
    return y.to(dst_scalar()).contiguous(torch::MemoryFormat::ChannelsLast);
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
  impl_->weight_cl = impl_->weight.contiguous(torch::MemoryFormat::ChannelsLast);
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
        // Built at the first shape where it may pay: its transformed weights are 36/9 = 4x the
        // weight's size (resnet18's layer4 at 224 px never pays: 113 MiB not spent).
        std::lock_guard<std::mutex> lock(impl_->mu);
        if (!winograd_) {
          winograd_ = std::make_shared<WinogradConv>(impl_->weight, impl_->bias, p, impl_->spec.act,
                                                     impl_->spec.add_after_act);
          impl_->winograd_name = std::string("winograd_f4x3:") + to_string(cpu_isa().simd);
        }
        w = winograd_;
      }
      if (!impl_->spec.winograd_tune || winograd_wins(*w, x_in, skip)) {
        impl_->last_impl = &impl_->winograd_name;
        return w->forward(x_in, skip);
      }
    }
  }
  return direct(x_in, skip);
}

bool OnednnConv::winograd_wins(const WinogradConv& w, const torch::Tensor& x, const torch::Tensor* skip) const {
  const auto key = std::make_pair(dims_of(x), skip != nullptr);
  // One timing per (shape, residual), under its own lock: a second caller of the same shape waits
  // for the answer rather than timing beside the first.
  std::lock_guard<std::mutex> lock(tune_mu_);
  auto it = winograd_wins_.find(key);
  if (it != winograd_wins_.end()) return it->second;
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
  direct(x, skip);  // the direct primitive's creation and weight reorder stay out of the timing
  double t_direct = 1e30, t_winograd = 1e30;
  for (int round = 0; round < 3; ++round) {  // alternated, best of 3 each
    auto t0 = clock::now();
    direct(x, skip);
    t_direct = std::min(t_direct, seconds(t0));
    t0 = clock::now();
    w.forward(x, skip);
    t_winograd = std::min(t_winograd, seconds(t0));
  }
  const bool wins = t_winograd < t_direct;
  impl_->note(impl_->describe(dims_of(x)) + ": Winograd " + std::to_string(t_winograd * 1e6) + " us, direct " +
              std::to_string(t_direct * 1e6) + " us: " + (wins ? "Winograd" : "direct"));
  winograd_wins_.emplace(key, wins);
  return wins;
}

torch::Tensor OnednnConv::direct(const torch::Tensor& x_in, const torch::Tensor* skip, const float* in_scale) const {
  const auto cl = torch::MemoryFormat::ChannelsLast;
  // As given when it is already the source type, channels-last contiguous (the usual case: two
  // dispatcher calls saved per convolution); otherwise converted.
  const torch::Tensor x = x_in.scalar_type() == impl_->src_scalar() && x_in.is_contiguous(cl)
                              ? x_in
                              : x_in.to(impl_->src_scalar()).contiguous(cl);
  auto e = impl_->entry(dims_of(x), skip != nullptr);
  auto set_last = [&] { impl_->last_impl = &e->impl; };
  if (skip)
    FRACTURE_CHECK(skip->sizes() == torch::IntArrayRef(e->dst), "OnednnConv: residual has shape ", skip->sizes(),
                   ", the output ", torch::IntArrayRef(e->dst));
  if (e->aten) {
    set_last();
    if (in_scale) return impl_->aten_forward(x_in * torch::from_blob(const_cast<float*>(in_scale), {1, x_in.size(1), 1, 1}), skip);
    return impl_->aten_forward(x_in, skip);
  }
  torch::Tensor y;
  using Residual = Impl::Residual;
  if (skip && e->residual == Residual::sum) {  // dst starts as a private copy of the residual; the sum post-op adds to it
    y = skip->to(impl_->dst_scalar()).contiguous(cl);
    if (y.data_ptr() == skip->data_ptr()) y = y.clone(cl);
  } else {
    y = torch::empty(e->dst, x.options().dtype(impl_->dst_scalar()).memory_format(cl));
  }
  torch::Tensor s;
  const bool binary_skip = skip && e->residual == Residual::binary;
  if (binary_skip) s = skip->to(impl_->dst_scalar()).contiguous(cl);  // no-op when so
  // A call's argument set from the entry's pool (made at the first call that finds the pool empty).
  std::unique_ptr<Impl::Entry::Call> call;
  {
    std::lock_guard<std::mutex> lock(e->calls_mu);
    if (!e->calls.empty()) {
      call = std::move(e->calls.back());
      e->calls.pop_back();
    }
  }
  if (!call) {
    call = std::make_unique<Impl::Entry::Call>();
    call->src = memory(e->src_md, impl_->eng, DNNL_MEMORY_NONE);
    call->dst = memory(e->dst_md, impl_->eng, DNNL_MEMORY_NONE);
    call->weights = memory(e->weights.get_desc(), impl_->eng, DNNL_MEMORY_NONE);
    call->args = {{DNNL_ARG_SRC, call->src}, {DNNL_ARG_WEIGHTS, call->weights}, {DNNL_ARG_BIAS, e->bias},
                  {DNNL_ARG_DST, call->dst}};
    if (e->scratch.get_size() > 0) {
      call->scratch = memory(e->scratch, impl_->eng, DNNL_MEMORY_NONE);
      call->args.emplace(DNNL_ARG_SCRATCHPAD, call->scratch);
    }
    if (e->residual == Residual::binary) {
      call->skip = memory(e->dst_md, impl_->eng, DNNL_MEMORY_NONE);
      const int index = (impl_->spec.add_after_act && impl_->spec.act != OnednnAct::none) ? 1 : 0;
      call->args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, call->skip);
    }
  }
  call->src.set_data_handle(x.data_ptr());
  call->dst.set_data_handle(y.data_ptr());
  if (e->scratch.get_size() > 0) call->scratch.set_data_handle(thread_scratch(e->scratch.get_size()));
  if (binary_skip) call->skip.set_data_handle(s.data_ptr());
  if (in_scale) {
    std::call_once(e->in_channel_once, [&] { e->in_channel = impl_->blocked_in_channels(*e); });
    const size_t n = e->in_channel.size();
    const float* w = static_cast<const float*>(e->weights.get_data_handle());
    float* scaled = static_cast<float*>(thread_scratch(n * sizeof(float), 1));
    const int32_t* ic = e->in_channel.data();
    for (size_t j = 0; j < n; ++j) scaled[j] = w[j] * in_scale[ic[j]];  // padding: w 0, channel 0
    call->weights.set_data_handle(scaled);
  } else {
    call->weights.set_data_handle(e->weights.get_data_handle());
  }
  dnnl::stream& st = thread_stream();
  // Back to the pool on every way out (execute may throw); the handles are re-set at each use.
  struct Return {
    Impl::Entry& e;
    std::unique_ptr<Impl::Entry::Call>& call;
    ~Return() {
      std::lock_guard<std::mutex> lock(e.calls_mu);
      e.calls.push_back(std::move(call));
    }
  } give_back{*e, call};
  e->prim.execute(st, call->args);
  st.wait();
  if (e->silu_after) silu_inplace(y.data_ptr<float>(), y.numel());
  if (skip && e->residual == Residual::after) y.add_(*skip);
  set_last();
  return y;
}

std::string OnednnConv::implementation() const {
  const std::string* last = impl_->last_impl.load();
  return last ? *last : std::string();
}

bool OnednnConv::folds_input_scale() const {
  const auto& w = impl_->weight;
  return !impl_->spec.bf16 && impl_->spec.groups == 1 && w.size(2) == 1 && w.size(3) == 1;
}

int64_t OnednnConv::out_channels() const { return impl_->weight.size(0); }

torch::Tensor OnednnConv::forward_scaled(const torch::Tensor& x, const float* scale, const torch::Tensor* skip) const {
  FRACTURE_CHECK(folds_input_scale(), "OnednnConv::forward_scaled: only for fp32 1x1 convolutions with groups 1");
  FRACTURE_CHECK(x.dim() == 4 && x.size(0) == 1 && x.size(1) == impl_->weight.size(1) && x.device().is_cpu() &&
                     x.scalar_type() == torch::kFloat32,
                 "OnednnConv::forward_scaled: input must be a (1, ", impl_->weight.size(1),
                 ", H, W) fp32 CPU tensor, got ", x.sizes(), " ", x.scalar_type());
  return direct(x, skip, scale);
}

#else  // !FRACTURE_WITH_ONEDNN

struct OnednnConv::Impl {};
bool OnednnConv::available() { return false; }
OnednnConv::OnednnConv(const torch::Tensor&, const torch::Tensor&, const OnednnConvSpec&) {
  FRACTURE_FAIL("OnednnConv: this build has no oneDNN (configure with -DFRACTURE_WITH_ONEDNN=ON and libdnnl-dev)");
}
OnednnConv::~OnednnConv() = default;
torch::Tensor OnednnConv::forward(const torch::Tensor&, const torch::Tensor*) const { return {}; }
torch::Tensor OnednnConv::direct(const torch::Tensor&, const torch::Tensor*, const float*) const { return {}; }
torch::Tensor OnednnConv::forward_scaled(const torch::Tensor&, const float*, const torch::Tensor*) const { return {}; }
bool OnednnConv::folds_input_scale() const { return false; }
int64_t OnednnConv::out_channels() const { return 0; }
bool OnednnConv::winograd_wins(const WinogradConv&, const torch::Tensor&, const torch::Tensor*) const { return false; }
std::string OnednnConv::implementation() const { return ""; }

#endif

}  // namespace fracture::models
