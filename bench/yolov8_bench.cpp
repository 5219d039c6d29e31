// YOLOv8 speed on CPU, C++ (libtorch) against the same architecture in PyTorch Python
// (bench/yolov8_bench.py, built from tests/oracle/yolov8_ref.py), each scale and each side in its
// own process so peak RSS is per scale and side. Prints per scale: batch-1 inference latency at
// imgsz, eager (Conv, BatchNorm, SiLU as defined) and optimised (BatchNorm folded into the convs,
// channels-last: optimize_for_inference here, fuse_conv_bn_eval + channels_last in Python), training
// images/s (forward + surrogate loss + backward + SGD step on both sides; the C++ side also with the
// real DetectionLoss, "full tr/s"), peak RSS (VmHWM), achieved GFLOP/s
// against a 1024x1024 fp32 matmul measured in the same process, then C++ / Python ratios, and the
// NMS time on the C++ side. Not a test. The optimised C++ path uses fused oneDNN convolutions when
// built with them and, with winograd=1 (the default, as the CLI's), Winograd F(4x4, 3x3) for its 3x3
// stride-1 convolutions; "direct ms" is the same optimised fp32 model with oneDNN's direct
// convolutions only (winograd off). "bf16 ms" is the opt-in bf16 path (InferenceOptions::bf16; 0
// when not built; the fp32 fallback on a CPU without native bf16 unless bf16_emulation=1). The
// header's "isa:" line names the instruction sets used (ONEDNN_MAX_CPU_ISA / ATEN_CPU_CAPABILITY
// caps apply to both sides).
// Latency is the best of 3 blocks of `runs` calls, training the median of `iters` steps, on both sides. The C++ side trains channels-last (train_cl=1, as the engine's default
// channels_last) and sets up malloc as the CLI does (malloc=1); Python trains NCHW unless py_train_cl=1.
// repeat=N runs each side's process N times, alternating C++ and Python, and prints the medians.
//
//   build/bench/yolov8_bench [imgsz=640] [scales=nsm] [runs=5] [threads=2] [train_imgsz=320]
//                            [train_batch=8] [iters=2] [train_cl=1] [malloc=1] [onednn=1] [winograd=1] [py_train_cl=0]
//                            [bf16_emulation=0]
//                            [repeat=1] [python=1] [script=bench/yolov8_bench.py]
//
// scale=X runs one scale in this process and prints one "RESULT ..." line (scales= re-runs this
// binary per scale and, with python=1, /usr/bin/python3 bench/yolov8_bench.py).
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
#include "fracture/detect/loss.h"
#include "fracture/detect/nms.h"
#include "fracture/models/yolov8.h"

namespace {
constexpr int64_t kNc = 7;  // the synthetic set's anatomical classes (and the exported model's nc)
using bench::arg;
using bench::matmul_peak_gflops;
using bench::peak_rss_mib;
using clock_type = std::chrono::steady_clock;
double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}
double latency_ms(fracture::models::YoloV8Impl& net, const torch::Tensor& x, int runs) {
  torch::InferenceMode guard;
  net.forward(x);  // warm-up
  return 1000 * bench::best_block_seconds([&] { net.forward(x); }, runs) / runs;
}

// io: the ONNX peer's files for this scale (bench::OrtPeer: io + ".safetensors", io + ".in1.bin"); when
// given, inference runs with those weights and the optimised model's output for the exported input
// goes to io + ".cpp1.bin".
int run_one(const std::string& scale, int64_t imgsz, int runs, int64_t train_imgsz, int64_t train_batch, int iters,
            bool train_cl, bool onednn, bool winograd, bool tune, bool bf16_emulation, const std::string& io_prefix) {
  const int64_t nc = kNc;
  torch::manual_seed(0);
  const double peak = matmul_peak_gflops();
  fracture::models::YoloV8Options o;
  o.scale = scale;
  o.nc = nc;
  // Training, batch train_batch at train_imgsz, SGD (nesterov): "net" = forward_train + surrogate loss
  // (mean of squares of the raw maps, as the Python side) + backward + step; "full" = the same with
  // the YOLOv8 loss (TaskAlignedAssigner + BCE + CIoU + DFL) on 3 boxes per image instead.
  auto train_speed = [&](bool full) {
    torch::manual_seed(0);
    fracture::models::YoloV8 net(o);
    if (train_cl) fracture::models::weights_to_channels_last(*net);
    net->train();
    fracture::detect::DetectionLoss loss(nc);
    auto x = torch::rand({train_batch, 3, train_imgsz, train_imgsz});
    if (train_cl) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    std::vector<float> rows;
    for (int64_t b = 0; b < train_batch; ++b)
      for (int k = 0; k < 3; ++k) {
        auto c = (0.2 + 0.6 * torch::rand({2})).contiguous();
        rows.insert(rows.end(), {float(b), float(k % nc), c[0].item<float>(), c[1].item<float>(), 0.1f + 0.1f * k, 0.15f});
      }
    auto targets = torch::from_blob(rows.data(), {int64_t(rows.size() / 6), 6}).clone();
    torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(1e-3).momentum(0.9).nesterov(true));
    std::vector<double> steps;
    for (int i = 0; i <= iters; ++i) {  // iteration 0 is the warm-up
      auto t0 = clock_type::now();
      opt.zero_grad();
      auto raw = net->forward_train(x);
      torch::Tensor l;
      if (full) {
        l = loss(raw, targets, train_imgsz, train_imgsz).total;
      } else {
        l = (raw[0] * raw[0]).mean() + (raw[1] * raw[1]).mean() + (raw[2] * raw[2]).mean();
      }
      l.backward();
      opt.step();
      if (i > 0) steps.push_back(ms_since(t0) / 1000);
    }
    return steps.empty() ? 0.0 : train_batch / bench::median_of(steps);  // median step; iters=0: no training
  };
  const double train_net = train_speed(false), train_full = train_speed(true);
  fracture::models::YoloV8 net(o);
  if (!io_prefix.empty()) fracture::models::load_yolov8_weights(*net, io_prefix + ".safetensors");
  net->eval();
  auto x = torch::rand({1, 3, imgsz, imgsz});
  const double eager = latency_ms(*net, x, runs);
  fracture::models::InferenceOptions io;
  io.channels_last = true;
  io.onednn = onednn;
  io.winograd = winograd;
  io.winograd_tune = tune;  // Winograd or direct by timing, per shape (opt-in)
  fracture::models::optimize_for_inference(*net, io);
  const double fused = latency_ms(*net, fracture::models::inference_input(x, io), runs);
  // NMS in the validation setting on a worst case (every anchor scored uniformly at random).
  torch::Tensor y_inf;
  {
    torch::InferenceMode guard;
    y_inf = net->forward(fracture::models::inference_input(x, io));
    const std::vector<float> in = io_prefix.empty() ? std::vector<float>{} : bench::read_f32(io_prefix + ".in1.bin");
    if (int64_t(in.size()) == 3 * imgsz * imgsz) {
      auto xe = torch::from_blob(const_cast<float*>(in.data()), {1, 3, imgsz, imgsz}).clone();
      bench::write_f32(io_prefix + ".cpp1.bin", net->forward(fracture::models::inference_input(xe, io)));
    }
  }
  auto y = y_inf.clone();  // a normal tensor (outside InferenceMode), so it can be modified
  y.narrow(1, 4, nc).uniform_(0, 1);
  fracture::detect::NmsOptions val;
  val.conf_thres = 0.001;
  val.iou_thres = 0.7;
  val.multi_label = true;
  auto t0 = clock_type::now();
  for (int i = 0; i < runs; ++i) fracture::detect::non_max_suppression(y, val);
  const double nms = ms_since(t0) / runs;
  // The opt-in bf16 path (InferenceOptions::bf16), on a fresh model (the fp32 one is released first).
  double bf16 = 0, direct = 0;
  if (onednn && winograd && fracture::models::uses_onednn(io)) {  // the same without Winograd
    net = fracture::models::YoloV8(o);
    fracture::models::InferenceOptions id = io;
    id.winograd = false;
    fracture::models::optimize_for_inference(*net, id);
    direct = latency_ms(*net, fracture::models::inference_input(x, id), runs);
  }
  if (onednn && fracture::models::uses_onednn(io)) {
    net = fracture::models::YoloV8(o);
    fracture::models::InferenceOptions ib = io;
    ib.bf16 = true;
    ib.bf16_emulation = bf16_emulation;
    fracture::models::optimize_for_inference(*net, ib);
    bf16 = latency_ms(*net, fracture::models::inference_input(x, ib), runs);
  }
  // RESULT scale eager_ms fused_ms train_net_ips peak_rss_mib matmul_gflops nms_ms train_full_ips bf16_ms
  //        direct_ms
  std::printf("RESULT %s %.2f %.2f %.2f %.1f %.1f %.2f %.2f %.2f %.2f\n", scale.c_str(), eager, fused, train_net,
              peak_rss_mib(), peak, nms, train_full, bf16, direct);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t imgsz = std::atoll(arg(argc, argv, "imgsz", "640").c_str());
  const int runs = std::atoi(arg(argc, argv, "runs", "5").c_str());
  const int threads = std::atoi(arg(argc, argv, "threads", "2").c_str());
  const int64_t train_imgsz = std::atoll(arg(argc, argv, "train_imgsz", "320").c_str());
  const int64_t train_batch = std::atoll(arg(argc, argv, "train_batch", "8").c_str());
  const int iters = std::atoi(arg(argc, argv, "iters", "2").c_str());
  const bool python = arg(argc, argv, "python", "1") == "1";
  const int repeat = std::atoi(arg(argc, argv, "repeat", "1").c_str());  // alternated runs per side; medians
  const std::string scales = arg(argc, argv, "scales", "nsm");
  const std::string one = arg(argc, argv, "scale", "");
  const std::string script = arg(argc, argv, "script", "bench/yolov8_bench.py");
  // malloc=1 (default): glibc malloc set up as the fracture CLI does (fracture/core/heap.h); 0: defaults.
  const bool tune_malloc = arg(argc, argv, "malloc", "1") == "1";
  const bool train_cl = arg(argc, argv, "train_cl", "1") == "1";
  const bool onednn = arg(argc, argv, "onednn", "1") == "1";  // fused oneDNN convolutions in "opt"
  const bool winograd = arg(argc, argv, "winograd", "1") == "1";  // Winograd 3x3 convolutions in "opt"
  const bool tune = arg(argc, argv, "winograd_tune", "0") == "1";  // InferenceOptions::winograd_tune in "opt"
  const bool py_train_cl = arg(argc, argv, "py_train_cl", "0") == "1";
  // bf16_emulation=1: the bf16 column also where oneDNN only emulates bf16 (AVX-512 without bf16
  // instructions, ONEDNN_MAX_CPU_ISA=AVX512_CORE); otherwise it is the fp32 fallback there.
  const bool bf16_emulation = arg(argc, argv, "bf16_emulation", "0") == "1";
  if (tune_malloc) fracture::tune_heap_for_tensors();
  torch::set_num_threads(threads);
  // ort=1 (default): ONNX Runtime as a third side (bench::OrtPeer; needs npm), exports under onnx_dir.
  const bool want_ort = arg(argc, argv, "ort", "1") == "1";
  const std::string onnx_dir = arg(argc, argv, "onnx_dir", "build/onnx-peer");
  const std::string io_prefix = arg(argc, argv, "io", "");  // set by scales= for the C++ child
  if (!one.empty())
    return run_one(one, imgsz, runs, train_imgsz, train_batch, iters, train_cl, onednn, winograd, tune, bf16_emulation,
                   io_prefix);
  bench::OrtPeer ort = bench::OrtPeer::setup(want_ort, onnx_dir, argv[0]);

  std::ostringstream common;
  common << "imgsz=" << imgsz << " runs=" << runs << " threads=" << threads << " train_imgsz=" << train_imgsz
         << " train_batch=" << train_batch << " iters=" << iters;
  std::printf("threads %d, inference batch 1 at %lld px (%d runs + 1 warm-up), training batch %lld at %lld px "
              "(%d iterations + 1 warm-up), nc 7, medians of %d alternated runs per side\n",
              threads, static_cast<long long>(imgsz), runs, static_cast<long long>(train_batch),
              static_cast<long long>(train_imgsz), iters, std::max(1, repeat));
  bench::print_isa();
  ort.print_header(threads, "its latency in the opt ms column");
  int mismatches = 0;
  std::printf("%-5s %-5s %10s %10s %9s %8s %8s %14s %8s %10s %8s %9s\n", "scale", "side", "eager ms", "opt ms",
              "train/s", "peakMiB", "mmGF/s", "opt GF/s (%pk)", "nms ms", "full tr/s", "bf16 ms", "direct ms");
  for (char s : scales) {
    const std::string name(1, s);
    const std::string model = "yolov8" + name;
    const bool peer = ort.ok() && ort.export_model(model, "1", imgsz);
    if (ort.ok() && !peer) std::printf("%-5s %-5s (no result: %s)\n", name.c_str(), "ort", ort.why.c_str());
    const std::string cmd_c = std::string(argv[0]) + " scale=" + name + " malloc=" + (tune_malloc ? "1" : "0") +
                              (peer ? " io=" + ort.dir + "/" + model : std::string()) +
                              " train_cl=" + (train_cl ? "1" : "0") + " onednn=" + (onednn ? "1" : "0") +
                              " winograd=" + (winograd ? "1" : "0") + " winograd_tune=" + (tune ? "1" : "0") +
                              " bf16_emulation=" + (bf16_emulation ? "1" : "0") +
                              " " + common.str();
    const std::string cmd_py = python ? "/usr/bin/python3 " + script + " scale=" + name +
                                            " train_cl=" + (py_train_cl ? "1" : "0") + " " + common.str()
                                      : "";
    const std::string cmd_ort = peer ? ort.command(model, "1", runs, threads) : "";
    auto sides = bench::run_alternating({cmd_c, cmd_py, cmd_ort}, repeat);
    auto& c = sides[0];
    auto& py = sides[1];
    const double gflop = (py.count(name) && py[name].size() >= 6) ? py[name][5] : 0;  // Python's hook count
    auto& a = c[name];
    auto& b = py[name];
    if (a.size() >= 9) {
      // GFLOP/s counts the direct convolution's FLOPs (Winograd does fewer for the same output).
      const double gfs = gflop > 0 ? gflop / (a[1] / 1000) : 0;
      std::printf("%-5s %-5s %10.1f %10.1f %9.2f %8.0f %8.1f %7.1f %5.1f%% %8.1f %10.2f %8.1f %9.1f\n", name.c_str(),
                  "C++", a[0], a[1], a[2], a[3], a[4], gfs, gfs > 0 ? 100 * gfs / a[4] : 0, a[5], a[6], a[7], a[8]);
    } else {
      std::printf("%-5s %-5s (no result)\n", name.c_str(), "C++");
    }
    if (python) {
      if (b.size() >= 6) {
        const double gfs = gflop / (b[1] / 1000);
        std::printf("%-5s %-5s %10.1f %10.1f %9.2f %8.0f %8.1f %7.1f %5.1f%%\n", name.c_str(), "py", b[0], b[1], b[2],
                    b[3], b[4], gfs, 100 * gfs / b[4]);
      } else {
        std::printf("%-5s %-5s (no result)\n", name.c_str(), "py");
      }
      if (a.size() >= 9 && b.size() >= 6) {
        // Latency ratios (lower is better for C++): C++ optimised against Python eager, and against
        // Python fused; training and peak RSS ratios C++ / Python.
        std::printf("%-5s %-5s opt/py-eager %.2f  opt/py-fused %.2f  eager/py-eager %.2f  train %.2f  peak %.2f"
                    "  bf16/py-eager %.2f  direct/py-eager %.2f\n",
                    name.c_str(), "C/py", a[1] / b[0], a[1] / b[1], a[0] / b[0], b[2] > 0 ? a[2] / b[2] : 0.0,
                    a[3] / b[3], a[7] / b[0], a[8] / b[0]);
      }
    }
    if (peer) {
      auto& o = sides[2][model];  // ms_b1 peak
      if (o.size() >= 2) {
        std::printf("%-5s %-5s %10s %10.1f %9s %8.0f\n", name.c_str(), "ort", "", o[0], "", o[1]);
      } else {
        std::printf("%-5s %-5s (no result)\n", name.c_str(), "ort");
      }
      if (a.size() >= 9 && o.size() >= 2) {
        std::printf("%-5s %-5s opt/ort %.2f  bf16/ort %.2f  peak %.2f\n", name.c_str(), "C/ort", a[1] / o[0],
                    a[7] / o[0], a[3] / o[1]);
      }
      // Output (1, 4 + nc, A) for the exported input (the last run's): boxes (xywh, input pixels)
      // within 1e-5 x max |coordinate|, class probabilities within 1e-5, against PyTorch eval.
      const size_t anchors = size_t((imgsz / 8) * (imgsz / 8) + (imgsz / 16) * (imgsz / 16) + (imgsz / 32) * (imgsz / 32));
      const size_t period = anchors * (4 + kNc);  // rows of A anchors: x, y, w, h, then nc probabilities
      bool ok = true;
      for (const char* side : {"cpp", "ort"}) {
        const auto [db, rb] = bench::compare_f32(ort.output(model, side, 1), ort.output(model, "torch", 1), period, 0,
                                                 4 * anchors);
        const auto [dp, rp] = bench::compare_f32(ort.output(model, side, 1), ort.output(model, "torch", 1), period,
                                                 4 * anchors, period);
        const bool good = db >= 0 && dp >= 0 && db <= 1e-5 * rb && dp <= 1e-5;
        ok = ok && good;
        std::printf("%-5s %-5s %s - PyTorch: boxes max |diff| %.3g px (max %.4g, tolerance %.3g), probabilities %.3g "
                    "(tolerance 1e-05): %s\n", name.c_str(), "out", side[0] == 'c' ? "C++" : "ORT", db, rb, 1e-5 * rb,
                    dp, good ? "match" : "MISMATCH");
      }
      mismatches += !ok;
    }
    std::fflush(stdout);
  }
  return mismatches ? 1 : 0;
}
