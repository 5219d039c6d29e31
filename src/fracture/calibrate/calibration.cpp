#include "fracture/calibrate/calibration.h"

#include <algorithm>
#include <cmath>

#include "fracture/core/error.h"
#include "fracture/eval/classification_metrics.h"

namespace fracture {

CalibrationReport calibration_report(const std::vector<int>& labels, const std::vector<double>& probs,
                                     int num_bins) {
  check_binary_inputs(labels, probs, "calibration_report");
  FRACTURE_CHECK(num_bins >= 1, "calibration_report: num_bins must be >= 1, got ", num_bins);
  CalibrationReport r;
  r.bins.resize(num_bins);
  for (int b = 0; b < num_bins; ++b) {
    r.bins[b].lower = static_cast<double>(b) / num_bins;
    r.bins[b].upper = static_cast<double>(b + 1) / num_bins;
  }
  std::vector<double> sum_p(num_bins, 0.0), sum_y(num_bins, 0.0);
  for (size_t i = 0; i < probs.size(); ++i) {
    const double p = probs[i];
    FRACTURE_CHECK(p >= 0.0 && p <= 1.0, "calibration_report: probability at index ", i, " is ", p,
                   ", expected a value in [0, 1]");
    int b = std::min(static_cast<int>(std::floor(p * num_bins)), num_bins - 1);
    // p * num_bins can round across an edge: settle on the documented rule lower <= p < upper
    while (b > 0 && p < r.bins[b].lower) --b;
    while (b + 1 < num_bins && p >= r.bins[b + 1].lower) ++b;
    r.bins[b].count += 1;
    sum_p[b] += p;
    sum_y[b] += labels[i];
  }
  const double n = static_cast<double>(probs.size());
  for (int b = 0; b < num_bins; ++b) {
    ReliabilityBin& bin = r.bins[b];
    if (bin.count == 0) continue;
    bin.mean_confidence = sum_p[b] / bin.count;
    bin.accuracy = sum_y[b] / bin.count;
    const double gap = std::fabs(bin.accuracy - bin.mean_confidence);
    r.ece += bin.count / n * gap;
    r.mce = std::max(r.mce, gap);
  }
  return r;
}

double expected_calibration_error(const std::vector<int>& labels, const std::vector<double>& probs) {
  return calibration_report(labels, probs).ece;
}

}  // namespace fracture
