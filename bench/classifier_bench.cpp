// Classifier speed on CPU: training images/s (forward + backward + AdamW) and inference images/s
// (batch 1 and batch 16, inference mode), for resnet18, mobilenet_v3_small, efficientnet_b0.
// Compare with bench/classifier_bench.py (torchvision, same settings). Not a test.
//
//   build-x/bench/classifier_bench [imgsz=224] [iters=5] [threads=0 (libtorch default)]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fracture/models/classifier.h"

using fracture::models::make_classifier;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
long arg(int argc, char** argv, const std::string& key, long def) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind(key + "=", 0) == 0) return std::atol(a.c_str() + key.size() + 1);
  }
  return def;
}
}  // namespace

int main(int argc, char** argv) {
  const long imgsz = arg(argc, argv, "imgsz", 224), iters = arg(argc, argv, "iters", 5);
  const long threads = arg(argc, argv, "threads", 0);
  if (threads > 0) torch::set_num_threads(threads);
  torch::manual_seed(0);
  std::printf("C++ libtorch %d threads, imgsz %ld, %ld timed iterations (1 warm-up)\n", torch::get_num_threads(), imgsz,
              iters);
  std::printf("%-20s %14s %14s %14s\n", "model", "train b16 im/s", "infer b1 im/s", "infer b16 im/s");
  for (const auto& name : fracture::models::classifier_names()) {
    fracture::models::ClassifierOptions opt;
    opt.num_classes = 1;
    auto net = make_classifier(name, opt);
    torch::optim::AdamW optim(net->parameters(), torch::optim::AdamWOptions(1e-4));
    auto x16 = torch::randn({16, 3, imgsz, imgsz});
    auto y16 = torch::randint(0, 2, {16, 1}).to(torch::kFloat32);
    net->train();
    double train = 0;
    for (long i = 0; i <= iters; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      optim.zero_grad();
      auto loss = torch::binary_cross_entropy_with_logits(net->forward(x16), y16);
      loss.backward();
      optim.step();
      if (i > 0) train += seconds_since(t0);
    }
    net->eval();
    double infer[2] = {0, 0};
    const long batches[2] = {1, 16};
    for (int b = 0; b < 2; ++b) {
      auto x = torch::randn({batches[b], 3, imgsz, imgsz});
      torch::InferenceMode guard;
      for (long i = 0; i <= iters; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        auto y = net->forward(x);
        if (i > 0) infer[b] += seconds_since(t0);
      }
    }
    std::printf("%-20s %14.1f %14.1f %14.1f\n", name.c_str(), 16.0 * iters / train, 1.0 * iters / infer[0],
                16.0 * iters / infer[1]);
  }
  return 0;
}
