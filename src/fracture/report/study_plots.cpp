#include "fracture/report/study_plots.h"

#include <cstdio>
#include <string>

#include "fracture/report/plot.h"

namespace fracture::report {

namespace {
std::string fixed3(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}
}  // namespace

void write_study_plots(const std::filesystem::path& dir, const std::vector<StudyCurves>& curves) {
  if (curves.empty()) return;
  // The reference lines come first, so that every backbone's line is drawn over them.
  std::vector<Series> roc{{"chance", {0, 1}, {0, 1}}}, pr, rel{{"perfect calibration", {0, 1}, {0, 1}}};
  double prevalence = -1;
  for (const StudyCurves& c : curves) {
    if (c.has_roc) {
      roc.push_back({c.model + " AUROC " + fixed3(c.auroc), c.roc.fpr, c.roc.tpr});
      // sklearn's PR arrays run from high recall to low; drawn as a line either way.
      pr.push_back({c.model + " AP " + fixed3(c.ap), c.pr.recall, c.pr.precision});
      prevalence = c.prevalence;  // the same images for every backbone of a study
    }
    Series r{c.model + " ECE " + fixed3(c.after.ece) + " (uncalibrated " + fixed3(c.before.ece) + ")", {}, {}};
    r.markers = true;
    for (const ReliabilityBin& b : c.after.bins) {
      if (b.count == 0) continue;  // an empty bin has no observed rate
      r.x.push_back(b.mean_confidence);
      r.y.push_back(b.accuracy);
    }
    rel.push_back(r);
  }
  if (roc.size() > 1) {
    PlotOptions o;
    o.title = "ROC curve (pooled out-of-fold, calibrated)";
    o.xlabel = "False positive rate (1 - specificity)";
    o.ylabel = "True positive rate (sensitivity)";
    write_png_atomic(line_plot(roc, o), dir / "roc_curve.png");
    pr.insert(pr.begin(), {"chance (prevalence " + fixed3(prevalence) + ")", {0, 1}, {prevalence, prevalence}});
    o.title = "Precision-recall curve (pooled out-of-fold, calibrated)";
    o.xlabel = "Recall (sensitivity)";
    o.ylabel = "Precision (PPV)";
    write_png_atomic(line_plot(pr, o), dir / "pr_curve.png");
  }
  PlotOptions o;
  o.title = "Reliability diagram (after calibration)";
  o.xlabel = "Mean predicted probability of fracture (bin)";
  o.ylabel = "Observed fracture rate (bin)";
  write_png_atomic(line_plot(rel, o), dir / "reliability_diagram.png");
}

}  // namespace fracture::report
