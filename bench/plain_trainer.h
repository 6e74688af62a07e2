// A straightforward single-process trainer for the default model (MLP with
// one ReLU hidden layer, softmax cross-entropy, Adam), written the plain way:
// one loop, the whole gradient per batch, no blocks, no parameter server. It
// is the baseline pstrain's time-to-accuracy is compared against; it shares
// only the data loader and OpenBLAS with pstrain.
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"
#include "worker/dataset.h"

namespace pst::bench {

struct PlainTrainerOptions {
  uint32_t hidden = 128;
  uint32_t batch_size = 64;
  float learning_rate = 0.001f;  // Adam, beta1 0.9, beta2 0.999, epsilon 1e-8
  uint32_t max_epochs = 10;
  double target_accuracy = 0.85;  // stop after the first epoch that reaches it
  uint64_t seed = 1;
};

struct PlainTrainerResult {
  bool reached = false;
  uint32_t epochs = 0;        // epochs run
  double seconds = 0;         // wall time of training and per-epoch evaluation
  double final_accuracy = 0;
};

// `on_epoch(epoch, accuracy, seconds_so_far)` is called after each epoch (optional).
StatusOr<PlainTrainerResult> TrainPlain(
    const Dataset& train, const Dataset& test, const PlainTrainerOptions& options,
    const std::function<void(uint32_t, double, double)>& on_epoch = nullptr);

// Per-step costs of the plain trainer's loop (the same code as TrainPlain)
// on a model with options.hidden hidden units, timed on this thread.
struct PlainStepTimes {
  double compute_ms = 0;  // batch copy, forward and backward (the gradient)
  double update_ms = 0;   // Adam on every parameter
};
// Times `steps` steps after one untimed warm-up step. kInvalidArgument if
// train holds less than a batch or steps == 0.
StatusOr<PlainStepTimes> TimePlainSteps(const Dataset& train, const PlainTrainerOptions& options,
                                        uint32_t steps);

}  // namespace pst::bench
