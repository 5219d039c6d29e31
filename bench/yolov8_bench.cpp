// YOLOv8 CPU inference speed: eval forward of n/s/m at one image size (random weights, batch 1) and
// the non_max_suppression that follows, in Ultralytics' validation setting (conf 0.001, IoU 0.7,
// multi-label) and predict setting (conf 0.25, IoU 0.7).
//
//   build/bench/yolov8_bench                 # imgsz 640, scales n s m, 5 timed runs after 1 warm-up
//   build/bench/yolov8_bench 320 n 10        # imgsz, scales (any of n, s, m), runs
//
// Uses torch's default intra-op threads (set OMP_NUM_THREADS to pin). Random weights: the NMS
// class scores are replaced by uniform random scores before NMS, a worst case of ~A candidates
// (8,400 at 640) rather than what a trained model gives.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fracture/detect/nms.h"
#include "fracture/models/yolov8.h"

int main(int argc, char** argv) {
  const int64_t imgsz = argc > 1 ? std::atoll(argv[1]) : 640;
  const std::string scales = argc > 2 ? argv[2] : "nsm";
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  std::printf("imgsz %lld, batch 1, CPU, %d threads, %d runs\n", static_cast<long long>(imgsz),
              torch::get_num_threads(), runs);
  std::printf("%-6s %12s %14s %14s\n", "scale", "forward ms", "nms val ms", "nms pred ms");
  for (char s : scales) {
    fracture::models::YoloV8Options o;
    o.scale = std::string(1, s);
    o.nc = 1;
    fracture::models::YoloV8 net(o);
    net->eval();
    auto x = torch::rand({1, 3, imgsz, imgsz});
    auto y = net->forward(x);  // warm-up
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    for (int i = 0; i < runs; ++i) y = net->forward(x);
    const double fwd = std::chrono::duration<double, std::milli>(clock::now() - t0).count() / runs;
    auto scored = y.clone();
    scored.narrow(1, 4, o.nc).uniform_(0, 1);  // worst case: every anchor a candidate
    fracture::detect::NmsOptions val;
    val.conf_thres = 0.001;
    val.iou_thres = 0.7;
    val.multi_label = true;
    fracture::detect::NmsOptions pred;
    pred.conf_thres = 0.25;
    pred.iou_thres = 0.7;
    t0 = clock::now();
    for (int i = 0; i < runs; ++i) fracture::detect::non_max_suppression(scored, val);
    const double nv = std::chrono::duration<double, std::milli>(clock::now() - t0).count() / runs;
    t0 = clock::now();
    for (int i = 0; i < runs; ++i) fracture::detect::non_max_suppression(scored, pred);
    const double np = std::chrono::duration<double, std::milli>(clock::now() - t0).count() / runs;
    std::printf("%-6c %12.1f %14.1f %14.1f\n", s, fwd, nv, np);
  }
  return 0;
}
