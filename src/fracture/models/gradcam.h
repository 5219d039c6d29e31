// Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
// Gradient-based Localization") for the three classification backbones, by default on their last
// feature map (ClassifierImpl::forward_features: resnet18 layer4, mobilenet_v3_small and
// efficientnet_b0 `features`; the layers pytorch-grad-cam's examples use for these torchvision
// models), or on any earlier layer by its torchvision name ("layer3", "features.8").
//
//   torch::Tensor cam = fracture::models::grad_cam(*net, x);   // x (B, 3, H, W) -> (B, H, W) in [0, 1]
//   fracture::models::CamPeak peak = fracture::models::cam_peak(cam[0]);   // where the map is hottest
//   torch::Tensor finer = fracture::models::grad_cam(*net, x, 0, "layer3");   // H/16 resolution (not optimised nets)
//
// Per image: A = forward_features(x) (B, C, h, w); y = forward_head(A)[:, target] (the fracture
// logit for the binary head); alpha_c = mean over (h, w) of dy/dA_c; map = relu(sum_c alpha_c A_c);
// bilinear upsampling to (H, W) (align_corners = false); then min-max scaled to [0, 1] per image
// (a constant map becomes 0). pytorch-grad-cam's scale_cam_image (utils/image.py) scales first,
// dividing by 1e-7 + max, then resizes with cv2.resize; bilinear resizing keeps a map's minimum and
// maximum, so the order does not matter, and we leave the 1e-7 out. With an inner layer the
// backbone after it is differentiated too (unoptimised networks only); with the last layer only the
// head is, so an optimize_for_inference'd network works.
// The map is in the input's pixel frame (a letterboxed input gives a letterboxed map).
#pragma once
#include <torch/types.h>

#include "fracture/models/classifier.h"

namespace fracture::models {

/// Grad-CAM maps (B, H, W), float32, CPU, for the logit column `target`, on the output of `layer`
/// (ClassifierImpl::feature_layers(); "" = the last feature map). The network is put in eval mode.
/// An earlier layer differentiates the backbone after it, which an optimize_for_inference'd
/// network cannot (fused kernels): refused for it. Throws fracture::Error on a bad target, layer or
/// a non-4-D input.
torch::Tensor grad_cam(ClassifierImpl& net, const torch::Tensor& x, int64_t target = 0, const std::string& layer = "");

/// The hottest pixel of one (H, W) map (the first in row-major order on ties).
struct CamPeak {
  int64_t row = 0, col = 0;
  float value = 0;
};
CamPeak cam_peak(const torch::Tensor& map);

}  // namespace fracture::models
