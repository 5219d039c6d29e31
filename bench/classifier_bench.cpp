// Classifier speed on CPU, C++ (libtorch) against torchvision (bench/classifier_bench.py), each model
// and each side in its own process so peak RSS is per model and per side. Prints per model:
// training images/s (forward + backward + AdamW, batch 16), inference images/s at batch 1 and 16
// (eval, InferenceMode) plain and after optimize_for_inference (BatchNorm folded, channels-last and
// fused oneDNN convolutions when cl=1), peak RSS (VmHWM), and achieved GFLOP/s as a share of a
// 1024x1024 fp32 matmul measured in the same process; then the C++ / Python ratios. Not a test.
// With ort=1 (default) ONNX Runtime is a third side (bench::OrtPeer): the model exported to ONNX by
// python3-torch (bench/onnx_export.py, seeded weights the C++ side loads too), run by onnxruntime-node
// (bench/ort_peer.js) at batch 1 and 16; printed as images/s, fracture / ORT time per image, and the
// three sides' logits for the same input compared (a mismatch makes the exit status 1).
// Training is the median of `iters` steps, inference the best of 3 blocks of `infer_iters` calls, on
// every side. The C++ side trains channels-last (train_cl=1, as the engines' default) and sets up
// malloc as the CLI does (malloc=1); the Python side trains NCHW unless py_train_cl=1. repeat=N runs
// each side's process N times, alternating C++, Python and ONNX Runtime, and prints the medians.
// Run from the repository root (the scripts are found relative to it).
//
//   build-x/bench/classifier_bench [imgsz=224] [iters=3] [infer_iters=10] [threads=2] [cl=1]
//                                  [train_cl=1] [malloc=1] [onednn=1] [winograd=1] [py_train_cl=0] [repeat=1]
//                                  [model=all|resnet18|...] [python=1] [script=bench/classifier_bench.py]
//                                  [ort=1] [onnx_dir=build/onnx-peer]
//
// model=NAME runs one model in this process and prints one "RESULT ..." line (used by model=all,
// which re-runs this binary per model and, with python=1, /usr/bin/python3 bench/classifier_bench.py).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "fracture/core/heap.h"
#include "fracture/models/classifier.h"
#include "fracture/models/inference.h"
#include "fracture/models/weights/checkpoint.h"

using bench::arg;
using bench::matmul_peak_gflops;
using bench::peak_rss_mib;
using bench::seconds_since;
using fracture::models::make_classifier;

namespace {
// Forward FLOPs per image at 224 px with a 1-logit head: 2 x multiply-adds of every Conv2d and
// Linear, counted with forward hooks by bench/classifier_bench.py (which prints its own count, so
// the two can be compared). Other sizes scale by (imgsz / 224)^2, exact up to strided rounding.
double forward_flops_224(const std::string& name) {
  if (name == "resnet18") return 3627123712.0;
  if (name == "mobilenet_v3_small") return 110974848.0;
  if (name == "efficientnet_b0") return 769072064.0;
  return 0;
}
// Inference images/s at batch b: 2 untimed calls, then the best of 3 blocks of `iters` calls (the
// Python side times the same way), so a moment of contention on a shared machine does not decide it.
double infer_ips(fracture::models::ClassifierImpl& net, const torch::Tensor& x, long iters) {
  torch::InferenceMode guard;
  for (int i = 0; i < 2; ++i) net.forward(x);
  return x.size(0) * iters / bench::best_block_seconds([&] { net.forward(x); }, iters);
}

// io: the ONNX peer's files for this model (bench::OrtPeer: io + ".safetensors", io + ".in{b}.bin");
// when given, inference runs with those weights and the optimised model's outputs for the exported
// inputs go to io + ".cpp{b}.bin" (b = 1, 16).
int run_one(const std::string& name, long imgsz, long iters, long infer_iters, bool cl, bool train_cl,
            bool onednn, bool winograd, bool tune, long slice, const std::string& io_prefix) {
  torch::manual_seed(0);
  const double peak = matmul_peak_gflops();
  fracture::models::ClassifierOptions opt;
  opt.num_classes = 1;
  auto net = make_classifier(name, opt);
  fracture::models::NamedTensors exported;
  if (!io_prefix.empty()) exported = fracture::models::read_safetensors(io_prefix + ".safetensors");
  // train_cl: as the engines train by default (config key channels_last), weights and batches NHWC.
  if (train_cl) fracture::models::weights_to_channels_last(*net);
  torch::optim::AdamW optim(net->parameters(), torch::optim::AdamWOptions(1e-4));
  auto x16 = torch::randn({16, 3, imgsz, imgsz});
  auto y16 = torch::randint(0, 2, {16, 1}).to(torch::kFloat32);
  auto xt = train_cl ? x16.contiguous(torch::MemoryFormat::ChannelsLast) : x16;
  net->train();
  std::vector<double> steps;
  for (long i = 0; i <= iters && iters > 0; ++i) {  // iteration 0 is the warm-up; iters=0: no training
    auto t0 = std::chrono::steady_clock::now();
    optim.zero_grad();
    auto loss = torch::binary_cross_entropy_with_logits(net->forward(xt), y16);
    loss.backward();
    optim.step();
    if (i > 0) steps.push_back(seconds_since(t0));
  }
  const double train_ips = steps.empty() ? 0.0 : 16.0 / bench::median_of(steps);  // median step
  if (train_cl) {  // back to NCHW for the plain inference columns
    torch::NoGradGuard ng;
    for (auto& p : net->parameters())
      if (p.dim() == 4) p.set_data(p.contiguous());
  }
  if (!exported.empty()) fracture::models::load_state_dict(*net, exported, io_prefix + ".safetensors", true);
  net->eval();
  auto x1 = torch::randn({1, 3, imgsz, imgsz});
  const double b1 = infer_ips(*net, x1, infer_iters), b16 = infer_ips(*net, x16, infer_iters);
  fracture::models::InferenceOptions io;
  io.channels_last = cl;
  io.onednn = onednn;
  io.winograd = winograd;  // resnet18's 3x3 stride-1 convolutions as Winograd F(4x4, 3x3) where it pays
  io.winograd_tune = tune;
  io.batch_slice = slice;  // -1: the architecture's (batch 16 on 2 threads: slices of 4, efficientnet_b0 1)
  fracture::models::optimize_for_inference(*net, io);
  const double b1o = infer_ips(*net, fracture::models::inference_input(x1, io), infer_iters);
  const double b16o = infer_ips(*net, fracture::models::inference_input(x16, io), infer_iters);
  if (!io_prefix.empty()) {
    torch::InferenceMode guard;
    for (long b : {1L, 16L}) {
      const std::vector<float> in = bench::read_f32(io_prefix + ".in" + std::to_string(b) + ".bin");
      if (long(in.size()) != b * 3 * imgsz * imgsz) continue;  // not exported at this size
      auto x = torch::from_blob(const_cast<float*>(in.data()), {b, 3, imgsz, imgsz}).clone();
      bench::write_f32(io_prefix + ".cpp" + std::to_string(b) + ".bin",
                       net->forward(fracture::models::inference_input(x, io)));
    }
  }
  const double f = forward_flops_224(name) * (imgsz / 224.0) * (imgsz / 224.0);
  // RESULT name train b1 b16 b1_opt b16_opt peak_rss_mib matmul_gflops train_gflops infer16_gflops
  std::printf("RESULT %s %.2f %.2f %.2f %.2f %.2f %.1f %.1f %.2f %.2f\n", name.c_str(), train_ips, b1, b16, b1o, b16o,
              peak_rss_mib(), peak, 3 * f * train_ips / 1e9, f * std::max(b16, b16o) / 1e9);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const long imgsz = std::atol(arg(argc, argv, "imgsz", "224").c_str());
  const long iters = std::atol(arg(argc, argv, "iters", "3").c_str());
  const long infer_iters = std::atol(arg(argc, argv, "infer_iters", "10").c_str());
  const long threads = std::atol(arg(argc, argv, "threads", "2").c_str());
  const bool cl = arg(argc, argv, "cl", "1") == "1";
  const bool train_cl = arg(argc, argv, "train_cl", "1") == "1";        // C++ side, as the engines
  const bool onednn = arg(argc, argv, "onednn", "1") == "1";            // fused oneDNN convs in "opt"
  const bool winograd = arg(argc, argv, "winograd", "1") == "1";        // Winograd 3x3 convs in "opt"
  const long slice = std::atol(arg(argc, argv, "slice", "-1").c_str());  // InferenceOptions::batch_slice in "opt"
  const bool tune = arg(argc, argv, "winograd_tune", "0") == "1";         // InferenceOptions::winograd_tune in "opt"
  const bool py_train_cl = arg(argc, argv, "py_train_cl", "0") == "1";  // Python side: NCHW by default
  const bool python = arg(argc, argv, "python", "1") == "1";
  const int repeat = std::atoi(arg(argc, argv, "repeat", "1").c_str());  // alternated runs per side; medians
  const std::string model = arg(argc, argv, "model", "all");
  // only=name[,name]: with model=all, the side-by-side run for these models only (default: all three)
  const std::string only = arg(argc, argv, "only", "");
  const std::string script = arg(argc, argv, "script", "bench/classifier_bench.py");  // relative to cwd
  // ort=1 (default): ONNX Runtime as a third side (bench::OrtPeer; needs npm), exports under onnx_dir.
  const bool want_ort = arg(argc, argv, "ort", "1") == "1";
  const std::string onnx_dir = arg(argc, argv, "onnx_dir", "build/onnx-peer");
  const std::string io_prefix = arg(argc, argv, "io", "");  // set by model=all for the C++ child
  // malloc=1 (default): glibc malloc set up as the fracture CLI does (fracture/core/heap.h); 0: defaults.
  const bool tune_malloc = arg(argc, argv, "malloc", "1") == "1";
  if (tune_malloc) fracture::tune_heap_for_tensors();
  torch::set_num_threads(threads);
  if (model != "all") return run_one(model, imgsz, iters, infer_iters, cl, train_cl, onednn, winograd, tune, slice, io_prefix);
  bench::OrtPeer ort = bench::OrtPeer::setup(want_ort, onnx_dir, argv[0]);

  std::ostringstream common;
  common << "imgsz=" << imgsz << " iters=" << iters << " infer_iters=" << infer_iters << " threads=" << threads;
  std::printf("threads %ld, imgsz %ld, train %ld timed iterations (+1 warm-up), inference %ld (+2 warm-up), cl=%d, "
              "medians of %d alternated runs per side\n",
              threads, imgsz, iters, infer_iters, cl ? 1 : 0, std::max(1, repeat));
  bench::print_isa();
  ort.print_header(threads, "b1/s b16/s in the opt columns");
  int mismatches = 0;
  std::printf("%-19s %-4s %8s %8s %8s %8s %8s %8s %8s %11s %11s\n", "model", "side", "train/s", "b1/s", "b16/s",
              "b1opt/s", "b16opt/s", "peakMiB", "mmGF/s", "trainGF/s", "inferGF/s");
  for (const auto& name : fracture::models::classifier_names()) {
    if (!only.empty() && ("," + only + ",").find("," + name + ",") == std::string::npos) continue;
    const bool peer = ort.ok() && ort.export_model(name, "1,16", imgsz);
    if (ort.ok() && !peer) std::printf("%-19s ort  (no result: %s)\n", name.c_str(), ort.why.c_str());
    const std::string cmd_c = std::string(argv[0]) + " model=" + name + " cl=" + (cl ? "1" : "0") +
                              (peer ? " io=" + ort.dir + "/" + name : std::string()) +
                              " malloc=" + (tune_malloc ? "1" : "0") + " train_cl=" + (train_cl ? "1" : "0") +
                              " onednn=" + (onednn ? "1" : "0") +
                              " winograd=" + (winograd ? "1" : "0") + " slice=" + std::to_string(slice) + " winograd_tune=" + (tune ? "1" : "0") + " " +
                              common.str();
    const std::string cmd_py = python ? "/usr/bin/python3 " + script + " model=" + name +
                                            " train_cl=" + (py_train_cl ? "1" : "0") + " " + common.str()
                                      : "";
    const std::string cmd_ort = peer ? ort.command(name, "1,16", infer_iters, threads) : "";
    auto sides = bench::run_alternating({cmd_c, cmd_py, cmd_ort}, repeat);
    auto& c = sides[0];
    auto& py = sides[1];
    auto print = [&](const char* side, const std::vector<double>& v) {
      if (v.size() < 9) {
        std::printf("%-19s %-4s (no result)\n", name.c_str(), side);
        return;
      }
      std::printf("%-19s %-4s %8.2f %8.2f %8.2f %8.2f %8.2f %8.0f %8.1f %5.2f %4.1f%% %5.2f %4.1f%%\n", name.c_str(), side,
                  v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], 100 * v[7] / v[6], v[8], 100 * v[8] / v[6]);
    };
    print("C++", c[name]);
    if (python) {
      print("py", py[name]);
      auto& a = c[name];
      auto& b = py[name];
      if (a.size() >= 9 && b.size() >= 9) {
        // Best C++ inference (plain or optimised) against torchvision eval; peak as C++ / Python.
        std::printf("%-19s %-4s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f\n", name.c_str(), "C/py", a[0] / b[0], a[1] / b[1],
                    a[2] / b[2], a[3] / b[1], a[4] / b[2], a[5] / b[5]);
      }
    }
    if (peer) {
      auto& a = c[name];
      auto& o = sides[2][name];  // ms_b1 ms_b16 peak
      if (o.size() >= 3) {
        std::printf("%-19s %-4s %8s %8s %8s %8.2f %8.2f %8.0f\n", name.c_str(), "ort", "", "", "", 1000 / o[0],
                    16000 / o[1], o[2]);
      } else {
        std::printf("%-19s %-4s (no result)\n", name.c_str(), "ort");
      }
      if (a.size() >= 9 && o.size() >= 3) {
        // Time per image, fracture's best (plain or optimised) / ONNX Runtime's: below 1 is faster.
        std::printf("%-19s %-4s time b1 %.2f  b16 %.2f  peak %.2f\n", name.c_str(), "C/ort",
                    1000 / (o[0] * std::max(a[1], a[3])), 16000 / (o[1] * std::max(a[2], a[4])), a[5] / o[2]);
      }
      // Outputs for the exported inputs (the last run's): optimised C++ and ONNX Runtime against
      // PyTorch eval, logits within 1e-4 x max |logit| (1e-7 at least).
      for (long b : {1L, 16L}) {
        const auto [dc, ref] = bench::compare_f32(ort.output(name, "cpp", b), ort.output(name, "torch", b));
        const auto [dort, ref2] = bench::compare_f32(ort.output(name, "ort", b), ort.output(name, "torch", b));
        const double tol = std::max(1e-7, 1e-4 * std::max(ref, ref2));
        const bool ok = dc >= 0 && dort >= 0 && dc <= tol && dort <= tol;
        mismatches += !ok;
        std::printf("%-19s %-4s batch %ld: max |C++ - PyTorch| %.3g, max |ORT - PyTorch| %.3g (max |logit| %.3g, "
                    "tolerance %.3g): %s\n", name.c_str(), "out", b, dc, dort, ref, tol, ok ? "match" : "MISMATCH");
      }
    }
    std::fflush(stdout);
  }
  return mismatches ? 1 : 0;
}
