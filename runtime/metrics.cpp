#include "runtime/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

namespace dlc {

namespace {

/// The Mann-Whitney statistic: the chance that a random positive outscores a random negative.
double rocAuc(const std::vector<float>& scores, const std::vector<float>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });

  double positiveRankSum = 0;
  int64_t positives = 0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    double averageRank = (static_cast<double>(start + end - 1) / 2.0) + 1.0;  // ranks from 1
    for (size_t i = start; i < end; ++i)
      if (labels[order[i]] >= 0.5f) {
        positiveRankSum += averageRank;
        ++positives;
      }
    start = end;
  }
  int64_t negatives = static_cast<int64_t>(scores.size()) - positives;
  if (positives == 0 || negatives == 0) return std::nan("");
  double u = positiveRankSum - static_cast<double>(positives) * (positives + 1) / 2.0;
  return u / (static_cast<double>(positives) * static_cast<double>(negatives));
}

double ratio(int64_t numerator, int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

}  // namespace

BinaryMetrics binaryMetrics(const std::vector<float>& probabilities,
                            const std::vector<float>& labels) {
  assert(probabilities.size() == labels.size());
  BinaryMetrics metrics;
  double lossSum = 0;
  for (size_t i = 0; i < probabilities.size(); ++i) {
    double p = std::clamp(static_cast<double>(probabilities[i]), 1e-7, 1.0 - 1e-7);
    bool positive = labels[i] >= 0.5f;
    lossSum -= positive ? std::log(p) : std::log(1.0 - p);
    bool predicted = probabilities[i] >= 0.5f;
    if (predicted && positive) ++metrics.truePositives;
    if (predicted && !positive) ++metrics.falsePositives;
    if (!predicted && !positive) ++metrics.trueNegatives;
    if (!predicted && positive) ++metrics.falseNegatives;
  }
  int64_t count = static_cast<int64_t>(probabilities.size());
  metrics.loss = count == 0 ? 0.0 : lossSum / static_cast<double>(count);
  metrics.accuracy = ratio(metrics.truePositives + metrics.trueNegatives, count);
  metrics.precision = ratio(metrics.truePositives, metrics.truePositives + metrics.falsePositives);
  metrics.recall = ratio(metrics.truePositives, metrics.truePositives + metrics.falseNegatives);
  double sum = metrics.precision + metrics.recall;
  metrics.f1 = sum == 0 ? 0.0 : 2.0 * metrics.precision * metrics.recall / sum;
  metrics.auc = rocAuc(probabilities, labels);
  return metrics;
}

double meanSquaredError(const std::vector<float>& predictions, const std::vector<float>& labels) {
  assert(predictions.size() == labels.size());
  double sum = 0;
  for (size_t i = 0; i < predictions.size(); ++i) {
    double error = double(predictions[i]) - double(labels[i]);
    sum += error * error;
  }
  return predictions.empty() ? 0 : sum / static_cast<double>(predictions.size());
}

BinaryMetrics metricsWithLoss(const std::vector<float>& predictions,
                              const std::vector<float>& labels, schema::LossKind loss) {
  BinaryMetrics metrics = binaryMetrics(predictions, labels);
  if (loss == schema::LossKind::MeanSquaredError)
    metrics.loss = meanSquaredError(predictions, labels);
  return metrics;
}

}  // namespace dlc
