#include "fracture/calibrate/thresholds.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fracture/core/error.h"

namespace fracture {

ThresholdCriterion threshold_criterion_from_string(const std::string& name) {
  if (name == "youden") return ThresholdCriterion::youden;
  if (name == "max_f1") return ThresholdCriterion::max_f1;
  if (name == "sensitivity") return ThresholdCriterion::sensitivity;
  if (name == "specificity") return ThresholdCriterion::specificity;
  if (name == "precision") return ThresholdCriterion::precision;
  if (name == "fixed") return ThresholdCriterion::fixed;
  FRACTURE_FAIL("unknown threshold criterion '", name,
                "', expected one of youden, max_f1, sensitivity, specificity, precision, fixed");
}

std::string to_string(ThresholdCriterion c) {
  switch (c) {
    case ThresholdCriterion::youden: return "youden";
    case ThresholdCriterion::max_f1: return "max_f1";
    case ThresholdCriterion::sensitivity: return "sensitivity";
    case ThresholdCriterion::specificity: return "specificity";
    case ThresholdCriterion::precision: return "precision";
    case ThresholdCriterion::fixed: return "fixed";
  }
  return "?";
}

ThresholdChoice choose_threshold(const std::vector<int>& labels, const std::vector<double>& scores,
                                 ThresholdCriterion criterion, double target) {
  check_binary_inputs(labels, scores, "choose_threshold");
  ThresholdChoice choice;
  choice.criterion = criterion;
  if (criterion == ThresholdCriterion::fixed) {
    FRACTURE_CHECK(std::isfinite(target), "choose_threshold: fixed threshold must be finite, got ", target);
    choice.target = target;
    choice.metrics = metrics_at_threshold(labels, scores, target);
    return choice;
  }
  const bool has_target = criterion == ThresholdCriterion::sensitivity ||
                          criterion == ThresholdCriterion::specificity || criterion == ThresholdCriterion::precision;
  if (has_target) {
    FRACTURE_CHECK(target > 0 && target <= 1, "choose_threshold: target ", to_string(criterion),
                   " must be in (0, 1], got ", target);
    choice.target = target;
  }
  int64_t pos = 0;
  for (int y : labels) pos += y;
  const int64_t neg = static_cast<int64_t>(labels.size()) - pos;
  const bool need_both = criterion == ThresholdCriterion::youden || criterion == ThresholdCriterion::sensitivity ||
                         criterion == ThresholdCriterion::specificity;
  FRACTURE_CHECK(pos > 0 && (neg > 0 || !need_both), "choose_threshold (", to_string(criterion),
                 "): labels have ", pos, " positive and ", neg, " negative cases; this criterion needs ",
                 need_both ? "both classes" : "a positive case");

  // Candidates in decreasing order: above-all first, then each distinct score. Counts of cases
  // with score >= candidate come from one pass over the scores sorted decreasingly.
  std::vector<size_t> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<double> cand_t;
  std::vector<Confusion> cand_c;
  Confusion c;
  c.fn = pos;
  c.tn = neg;
  cand_t.push_back(std::nextafter(scores[order[0]], std::numeric_limits<double>::infinity()));
  cand_c.push_back(c);
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (labels[i] == 1) {
      ++c.tp;
      --c.fn;
    } else {
      ++c.fp;
      --c.tn;
    }
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[i]) {
      cand_t.push_back(scores[i]);
      cand_c.push_back(c);
    }
  }

  // walk from the highest threshold down; `best` keeps the first (highest) winner on exact ties
  size_t best = cand_t.size();
  for (size_t k = 0; k < cand_t.size(); ++k) {
    const Confusion& q = cand_c[k];
    const ThresholdMetrics m = metrics_from_counts(q, cand_t[k]);
    switch (criterion) {
      case ThresholdCriterion::youden: {
        // J = tp/pos - fp/neg, compared as tp*neg - fp*pos
        if (best == cand_t.size()) {
          best = k;
        } else {
          const Confusion& b = cand_c[best];
          if (q.tp * neg - q.fp * pos > b.tp * neg - b.fp * pos) best = k;
        }
        break;
      }
      case ThresholdCriterion::max_f1: {
        // F1 = 2tp / (2tp + fp + fn): compare fractions by cross-multiplying (denominators > 0 as pos > 0)
        if (best == cand_t.size()) {
          best = k;
        } else {
          const Confusion& b = cand_c[best];
          const int64_t qn = 2 * q.tp, qd = 2 * q.tp + q.fp + q.fn;
          const int64_t bn = 2 * b.tp, bd = 2 * b.tp + b.fp + b.fn;
          if (qn * bd > bn * qd) best = k;
        }
        break;
      }
      case ThresholdCriterion::sensitivity:
        if (best == cand_t.size() && m.recall >= target) best = k;  // first from the top
        break;
      case ThresholdCriterion::specificity:
      case ThresholdCriterion::precision: {
        const double v = criterion == ThresholdCriterion::specificity ? m.specificity : m.precision;
        if (v >= target) best = k;  // keep the last (lowest) one meeting it
        break;
      }
      case ThresholdCriterion::fixed:
        break;
    }
  }
  FRACTURE_CHECK(best < cand_t.size(), "choose_threshold: no threshold reaches ", to_string(criterion), " >= ",
                 target, " on these ", labels.size(), " cases");
  choice.metrics = metrics_from_counts(cand_c[best], cand_t[best]);
  return choice;
}

}  // namespace fracture
