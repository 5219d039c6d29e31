#include "fracture/models/gradcam.h"

#include <torch/torch.h>

#include <algorithm>

#include "fracture/core/error.h"

namespace fracture::models {

torch::Tensor grad_cam(ClassifierImpl& net, const torch::Tensor& x, int64_t target, const std::string& layer_in) {
  FRACTURE_CHECK(x.dim() == 4, "grad_cam: input must be (B, C, H, W), got ", x.dim(), " dimensions");
  const std::vector<std::string> names = net.feature_layers();
  const std::string& last = names.back();
  const std::string layer = layer_in.empty() ? last : layer_in;
  if (std::find(names.begin(), names.end(), layer) == names.end()) {
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
    FRACTURE_FAIL("Grad-CAM layer '", layer, "': expected one of ", all);
  }
  const bool inner = layer != last;
  FRACTURE_CHECK(!inner || !net.inference_only(), "grad_cam: layer '", layer, "' is not the last feature map (",
                 last, "): the backbone after it must be differentiated, which an optimize_for_inference'd network ",
                 "cannot; use the unoptimised network");
  net.eval();
  torch::Tensor a;
  {
    torch::NoGradGuard no_grad;
    a = net.forward_features_until(x, layer);  // (B, C, h, w)
  }
  a = a.detach().contiguous().to(torch::kFloat).requires_grad_(true);
  torch::Tensor y;
  {
    torch::AutoGradMode on(true);
    y = net.forward_head(inner ? net.forward_features_from(a, layer) : a);  // (B, num_classes)
    FRACTURE_CHECK(target >= 0 && target < y.size(1), "grad_cam: target ", target, " is not a logit column (",
                   y.size(1), " columns)");
    // images are independent through the head: the gradient of the sum is each image's own
    y.select(1, target).sum().backward();
  }
  const torch::Tensor alpha = a.grad().mean({2, 3}, /*keepdim=*/true);  // (B, C, 1, 1)
  torch::Tensor cam = torch::relu((alpha * a.detach()).sum(1, /*keepdim=*/true));  // (B, 1, h, w)
  cam = torch::nn::functional::interpolate(
      cam, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{x.size(2), x.size(3)})
               .mode(torch::kBilinear)
               .align_corners(false));
  cam = cam.squeeze(1);  // (B, H, W)
  const torch::Tensor flat = cam.flatten(1);
  const torch::Tensor lo = std::get<0>(flat.min(1)).view({-1, 1, 1});
  const torch::Tensor hi = std::get<0>(flat.max(1)).view({-1, 1, 1});
  const torch::Tensor range = hi - lo;
  cam = torch::where(range > 0, (cam - lo) / range.clamp_min(1e-30), torch::zeros_like(cam));
  return cam.to(torch::kCPU).contiguous();
}

CamPeak cam_peak(const torch::Tensor& map) {
  FRACTURE_CHECK(map.dim() == 2 && map.numel() > 0, "cam_peak: expected a non-empty (H, W) map");
  const torch::Tensor m = map.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t idx = m.flatten().argmax().item<int64_t>();
  CamPeak p;
  p.row = idx / m.size(1);
  p.col = idx % m.size(1);
  p.value = m.flatten()[idx].item<float>();
  return p;
}

}  // namespace fracture::models
