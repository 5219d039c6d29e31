#include "fracture/report/compare.h"

#include <algorithm>
#include <cmath>

#include "fracture/calibrate/calibration.h"
#include "fracture/calibrate/platt.h"
#include "fracture/calibrate/thresholds.h"
#include "fracture/core/error.h"
#include "fracture/eval/classification_metrics.h"

namespace fracture {

namespace {

double clipped_logit(double p) {
  const double q = std::min(std::max(p, 1e-6), 1 - 1e-6);
  return std::log(q / (1 - q));
}

void check_split(const std::vector<int>& y, const char* split) {
  int pos = 0;
  for (int v : y) {
    FRACTURE_CHECK(v == 0 || v == 1, "compare: a ", split, " label is ", v, ", expected 0 or 1");
    pos += v;
  }
  FRACTURE_CHECK(pos > 0 && pos < int(y.size()), "compare: the ", split, " images need both classes, got ", pos,
                 " fractured of ", y.size());
}

void check_column(const ScoreColumn& c, const CompareInput& in) {
  FRACTURE_CHECK(c.val.size() == in.val_labels.size() && c.test.size() == in.test_labels.size(), "compare: '", c.name,
                 "' has ", c.val.size(), " val and ", c.test.size(), " test scores for ", in.val_labels.size(), " and ",
                 in.test_labels.size(), " images");
  for (const auto* v : {&c.val, &c.test})
    for (double s : *v)
      FRACTURE_CHECK(s >= 0 && s <= 1, "compare: '", c.name, "' has a score ", s, " outside [0, 1]");
}

ScoreResult judge(const ScoreColumn& c, const CompareInput& in, const CompareOptions& opt) {
  ScoreResult r;
  r.name = c.name;
  r.kind = c.kind;
  r.score = c.score;
  r.val_auroc = roc_auc_score(in.val_labels, c.val);
  r.threshold = choose_threshold(in.val_labels, c.val, ThresholdCriterion::youden, 0).metrics.threshold;
  r.metrics = score_figures(in.test_labels, c.test, r.threshold, opt, /*calibration=*/false);
  return r;
}

ModelComparison pair_test(const ScoreColumn& a, const ScoreColumn& b, const std::vector<int>& y, double confidence) {
  return delong_comparison(a.name, b.name, y, a.test, b.test, confidence);
}

}  // namespace

std::vector<std::pair<std::string, BootstrapResult>> score_figures(const std::vector<int>& labels,
                                                                   const std::vector<double>& scores, double thr,
                                                                   const CompareOptions& opt, bool calibration) {
  BootstrapOptions bo;
  bo.n_resamples = opt.n_bootstrap;
  bo.confidence = opt.confidence;
  bo.seed = opt.seed;
  auto at = [thr](double ThresholdMetrics::*field) -> MetricFn {
    return [thr, field](const std::vector<int>& l, const std::vector<double>& s) {
      return metrics_at_threshold(l, s, thr).*field;
    };
  };
  std::vector<std::pair<std::string, MetricFn>> fns = {
      {"auroc", roc_auc_score},
      {"ap", average_precision_score},
      {"brier", brier_score_loss},
      {"accuracy", at(&ThresholdMetrics::accuracy)},
      {"precision", at(&ThresholdMetrics::precision)},
      {"recall", at(&ThresholdMetrics::recall)},
      {"specificity", at(&ThresholdMetrics::specificity)},
      {"f1", at(&ThresholdMetrics::f1)}};
  if (calibration) {
    fns.emplace_back("ece", expected_calibration_error);
    fns.emplace_back("citl", [](const std::vector<int>& l, const std::vector<double>& s) {
      return calibration_line(l, s).intercept_in_the_large;
    });
    fns.emplace_back("slope", [](const std::vector<int>& l, const std::vector<double>& s) {
      return calibration_line(l, s).slope;
    });
  }
  std::vector<std::pair<std::string, BootstrapResult>> out;
  for (const auto& [k, fn] : fns) out.emplace_back(k, bootstrap_ci(labels, scores, fn, bo));
  return out;
}

const BootstrapResult& named_figure(const std::vector<std::pair<std::string, BootstrapResult>>& figures,
                                   const std::string& key, const std::string& who) {
  for (const auto& [k, v] : figures)
    if (k == key) return v;
  FRACTURE_FAIL("compare: no metric '", key, "' for '", who, "'");
}

const BootstrapResult& score_metric(const ScoreResult& r, const std::string& key) {
  return named_figure(r.metrics, key, r.name);
}

CompareResult compare_scores(const CompareInput& in, const CompareOptions& opt) {
  check_split(in.val_labels, "val");
  check_split(in.test_labels, "test");
  FRACTURE_CHECK(!in.columns.empty(), "compare: no scores to compare");
  for (const ScoreColumn& c : in.columns) check_column(c, in);
  CompareResult out;
  out.n_val = int(in.val_labels.size());
  out.n_test = int(in.test_labels.size());
  out.n_val_positive = int(std::count(in.val_labels.begin(), in.val_labels.end(), 1));
  out.n_test_positive = int(std::count(in.test_labels.begin(), in.test_labels.end(), 1));
  for (const ScoreColumn& c : in.columns) out.scores.push_back(judge(c, in, opt));

  // the fused pair: the classifier and the detector with the highest val AUROC (first on ties)
  int best_c = -1, best_d = -1;
  for (size_t k = 0; k < in.columns.size(); ++k) {
    const bool cls = in.columns[k].kind == "classifier", det = in.columns[k].kind == "detector";
    int& best = cls ? best_c : best_d;
    if ((cls || det) && (best < 0 || out.scores[k].val_auroc > out.scores[best].val_auroc)) best = int(k);
  }
  std::vector<ScoreColumn> all = in.columns;
  if (best_c >= 0 && best_d >= 0) {
    const ScoreColumn& c = in.columns[best_c];
    const ScoreColumn& d = in.columns[best_d];
    std::vector<std::vector<double>> xv, xt;
    for (size_t i = 0; i < c.val.size(); ++i) xv.push_back({clipped_logit(c.val[i]), clipped_logit(d.val[i])});
    for (size_t i = 0; i < c.test.size(); ++i) xt.push_back({clipped_logit(c.test[i]), clipped_logit(d.test[i])});
    out.fusion = fit_logistic_regression(xv, in.val_labels, opt.fusion_c);
    ScoreColumn f;
    f.name = "fused";
    f.kind = "fused";
    f.score = "logistic regression of the label on the logits of " + c.name + " and " + d.name + ", fitted on val";
    for (const auto& x : xv) f.val.push_back(stable_sigmoid(logistic_regression_logit(out.fusion, x)));
    for (const auto& x : xt) f.test.push_back(stable_sigmoid(logistic_regression_logit(out.fusion, x)));
    out.scores.push_back(judge(f, in, opt));
    out.fused = true;
    out.fused_classifier = c.name;
    out.fused_detector = d.name;
    all.push_back(f);
  } else {
    out.fusion_note = "a fused score needs at least one classifier and one detector";
  }
  for (const ScoreColumn& d : all)
    if (d.kind == "detector")
      for (const ScoreColumn& c : all)
        if (c.kind == "classifier") out.tests.push_back(pair_test(d, c, in.test_labels, opt.confidence));
  if (out.fused) {
    const ScoreColumn& f = all.back();
    out.tests.push_back(pair_test(f, in.columns[best_c], in.test_labels, opt.confidence));
    out.tests.push_back(pair_test(f, in.columns[best_d], in.test_labels, opt.confidence));
  }
  return out;
}

}  // namespace fracture
