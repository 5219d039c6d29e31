// Calibration error for binary classifiers: ECE and MCE over equal-width bins, and the data of a
// reliability diagram.
//
//   fracture::CalibrationReport r = fracture::calibration_report(labels, probs);   // 15 bins
//   std::printf("ECE %.3f, MCE %.3f\n", r.ece, r.mce);
//   for (const auto& b : r.bins) if (b.count) std::printf("%.2f %.2f\n", b.mean_confidence, b.accuracy);
//
// Convention (one, fixed): the reliability of p = P(fractured) itself, not Guo et al.'s top-label
// confidence max(p, 1 - p). Each case goes to a bin by its p; in a bin, "confidence" is the mean p
// and "accuracy" is the observed share of positives (label 1). Then
//   ECE = sum_b (n_b / n) |accuracy_b - confidence_b|,   MCE = max over non-empty bins of the same gap.
// Bins: edges e_b = b / num_bins; bin b holds e_b <= p < e_{b+1}, the last bin also holds p = 1.
// Empty bins have count 0 and do not enter ECE or MCE.
#pragma once
#include <vector>

namespace fracture {

struct ReliabilityBin {
  double lower = 0, upper = 0;  ///< bin edges
  int count = 0;                ///< cases in the bin
  double mean_confidence = 0;   ///< mean p in the bin (0 when empty)
  double accuracy = 0;          ///< share of label-1 cases in the bin (0 when empty)
};

struct CalibrationReport {
  double ece = 0;
  double mce = 0;
  std::vector<ReliabilityBin> bins;  ///< num_bins entries, increasing p
};

/// Probabilities must lie in [0, 1]; labels 0/1; throws fracture::Error otherwise.
CalibrationReport calibration_report(const std::vector<int>& labels, const std::vector<double>& probs,
                                     int num_bins = 15);

/// calibration_report(...).ece, with the signature of a bootstrap metric.
double expected_calibration_error(const std::vector<int>& labels, const std::vector<double>& probs);

}  // namespace fracture
