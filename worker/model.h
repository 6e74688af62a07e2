// pst::Model: what a worker trains. A model declares the tables it computes on
// (common/table_spec.h; the parameter servers hold them) and computes a
// batch's loss and gradients on the values of its dense tables, which lie back
// to back in one key space [0, num_keys()) (the "dense key space"): `params`
// and `grad` below are arrays over that key space. Mlp (worker/mlp.h) is one
// implementation.
// Implementations are not thread-safe: each thread uses its own Model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"
#include "common/table_spec.h"

namespace pst {

// n samples of dense features with their class labels.
struct Batch {
  const float* x = nullptr;         // n * num_inputs() floats, row-major
  const int32_t* labels = nullptr;  // n labels in [0, num_classes())
  size_t n = 0;
};

// Lets a caller overlap parameter and gradient transfers with a pass (as
// BytePS does): the pass says which params it is about to read and which
// gradients are done. All members are optional; key ranges are dense keys
// [begin, end).
struct ModelHooks {
  // Dense tables are read and written in blocks of about this many keys (how
  // exactly is up to the model, e.g. whole rows of a weight matrix), so
  // transfers can start earlier. Results differ from whole-table blocks only
  // by float rounding and are deterministic for a given block_keys.
  // Default: 0 (whole tables).
  uint64_t block_keys = 0;
  // Called before the pass first reads params[begin, end); must return once
  // those values are in place. The pass reads no param it has not waited for,
  // so params outside the waited ranges may still be written by another
  // thread. Called once per range, in the order the pass reads them. The
  // pass writes nothing into grad before the last of these calls has returned
  // (with n > 0), so a caller may keep sending the previous pass's gradient
  // from the same buffer until its waits say that has arrived. A non-OK
  // status aborts the pass and is returned by ComputeGradients.
  std::function<Status(uint64_t begin, uint64_t end)> wait_params;
  // Called once grad[begin, end) holds its final value for this batch. The
  // pass never touches that range again, so the hook may hand it to another
  // thread (e.g. start a push) and return at once. The ranges reported over a
  // pass are disjoint and cover [0, num_keys()). A non-OK status aborts the
  // pass and is returned by ComputeGradients.
  std::function<Status(uint64_t begin, uint64_t end)> grad_ready;
  // Called once the pass reads params[begin, end) no more, so the caller may
  // overwrite them from then on (e.g. with the next step's values as they
  // arrive, instead of holding those until the next pass). The ranges
  // reported over a pass are disjoint and cover [0, num_keys()). A non-OK
  // status aborts the pass and is returned by ComputeGradients.
  std::function<Status(uint64_t begin, uint64_t end)> params_free;
};

// Both measures of a test set from one forward pass.
struct ModelEvaluation {
  size_t correct = 0;     // samples whose arg-max prediction equals the label
  double loss_sum = 0.0;  // sum of the per-sample losses (NaN if a label is invalid)
};

class Model {
 public:
  virtual ~Model() = default;

  // The tables this model needs, each updated with `optimizer`, in the order
  // their dense keys are laid out. The worker checks them against the job's
  // (common/job_tables.h), which the parameter servers created.
  virtual std::vector<TableSpec> Tables(const OptimizerSpec& optimizer) const = 0;
  // Size of the dense key space: DenseKeyCount(Tables(...)).
  virtual uint64_t num_keys() const = 0;
  virtual size_t num_inputs() const = 0;
  virtual size_t num_classes() const = 0;

  // Forward and backward pass over `batch`. params: num_keys() floats. grad:
  // num_keys() floats, OVERWRITTEN with the SUM over the batch of the
  // per-sample gradients (not the mean: the PS divides the sum of all
  // workers' sums by the total sample count). Returns the SUM of the
  // per-sample losses, or the first non-OK status a hook returned (the pass
  // then stops at once and grad is partly written). batch.n == 0 zeroes grad,
  // reports every range ready and returns 0. REQUIRES: the hooks do not throw.
  virtual StatusOr<double> ComputeGradients(const float* params, const Batch& batch, float* grad,
                                            const ModelHooks& hooks) = 0;
  // Forward pass only, over a batch of any size (e.g. a whole test set).
  virtual ModelEvaluation Evaluate(const float* params, const Batch& batch) = 0;
};

}  // namespace pst
