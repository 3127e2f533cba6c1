// Metrics of a binary classifier, as `dlc evaluate` reports them.
#pragma once

#include <cstdint>
#include <vector>

#include "schema/dlc_model_generated.h"

namespace dlc {

struct BinaryMetrics {
  double loss = 0;  // cross-entropy, predictions clipped to [1e-7, 1 - 1e-7] (or metricsWithLoss's)
  double accuracy = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  double auc = 0;  // area under the ROC curve; ties between scores count one half
  int64_t truePositives = 0, falsePositives = 0, trueNegatives = 0, falseNegatives = 0;
};

/// Predictions are probabilities; a prediction of 0.5 or more counts as positive.
BinaryMetrics binaryMetrics(const std::vector<float>& probabilities,
                            const std::vector<float>& labels);

/// The mean of (prediction - label)^2: the loss of a model trained with MeanSquaredError.
double meanSquaredError(const std::vector<float>& predictions, const std::vector<float>& labels);

/// binaryMetrics with the loss a model trains with, `loss` (as Keras reports val_loss).
BinaryMetrics metricsWithLoss(const std::vector<float>& predictions,
                              const std::vector<float>& labels, schema::LossKind loss);

}  // namespace dlc
