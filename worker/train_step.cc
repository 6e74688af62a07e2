#include "worker/train_step.h"

#include <algorithm>

#include "worker/gradient_clip.h"

namespace pst {

using SteadyClock = std::chrono::steady_clock;

StatusOr<std::unique_ptr<TrainStep>> TrainStep::Create(Model& model,
                                                       const TrainStepOptions& options) {
  PST_RETURN_IF_ERROR(ValidateTrainSpec(options.train));
  return std::unique_ptr<TrainStep>(new TrainStep(model, options));
}

TrainStep::TrainStep(Model& model, const TrainStepOptions& options)
    : model_(model),
      options_(options),
      // Under SSP with a bound of at least 1, step c+1's parameters are pulled
      // into a second buffer while step c computes instead of after it (step
      // c's own gradient then reaches the model one step later: a staleness
      // of 1, within the bound the job allows); step c-1's pushes asked for
      // them. BSP and SSP with bound 0 need step c's update first; ASP, which
      // promises no bound, reads the freshest values it can (after its own
      // push): prefetching there cost short runs several points of accuracy
      // for little speed.
      prefetch_(ConsistencyPolicy(options.train).prefetch()),
      early_copy_(4 * model.num_keys() >= options.early_copy_min_bytes) {
  const uint64_t keys = model.num_keys();
  // (Every buffer is a copy of the model: a large model's worker memory is
  // mostly these.)
  for (int i = 0; i < (prefetch_ ? 2 : 1); ++i) {
    params_[i] = std::make_unique_for_overwrite<float[]>(keys);
    grads_.push_back(std::make_shared_for_overwrite<float[]>(keys));
  }
  batch_x_.resize(size_t{options.train.batch_size} * model.num_inputs());
  batch_y_.resize(options.train.batch_size);
  hooks_.block_keys = BlockKeys(options.train);
}

Status TrainStep::Prepare(PsClient& ps, uint64_t clock) {
  started_ = SteadyClock::now();
  prepared_clock_ = kNone;
  if (complete_clock_ == clock && ps.Values(complete_pull_)) {
    pull_ = complete_pull_;  // an evaluation pulled this clock's model already
  } else {
    complete_clock_ = kNone;
    PST_ASSIGN_OR_RETURN(pull_, ps.EnsurePull(TargetFor(clock)));
  }
  // The next step's parameters, into the other buffer (see prefetch_).
  if (prefetch_) PST_RETURN_IF_ERROR(ps.EnsurePull(TargetFor(clock + 1)).status());
  PST_RETURN_IF_ERROR(ps.CollectPushAcks());
  prepared_clock_ = clock;
  return Status::OK();
}

void TrainStep::FillBatch(const Dataset& data, const uint32_t* ids, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t s = ids[i];
    std::copy(data.row(s), data.row(s) + data.num_features,
              batch_x_.begin() + i * data.num_features);
    batch_y_[i] = data.labels[s];
  }
}

void TrainStep::NoteFreed(KeyRange keys) {
  auto it = std::lower_bound(freed_.begin(), freed_.end(), keys,
                             [](const KeyRange& a, const KeyRange& b) { return a.begin < b.begin; });
  it = freed_.insert(it, keys);
  if (it != freed_.begin() && std::prev(it)->end == it->begin) {
    std::prev(it)->end = it->end;
    it = std::prev(freed_.erase(it));
  }
  if (std::next(it) != freed_.end() && it->end == std::next(it)->begin) {
    it->end = std::next(it)->end;
    freed_.erase(std::next(it));
  }
}

Status TrainStep::TakeArrived(PsClient& ps, uint64_t clock, const PullTarget& then_pull) {
  const KeyRange all{0, model_.num_keys()};
  // This pass's own pull: the blocks the pass has not waited for yet it has
  // not read yet either (ModelHooks::wait_params).
  PST_RETURN_IF_ERROR(ps.TakeArrived(TargetFor(clock), all));
  // The later pull this step's pushes carry, into this same buffer: only
  // where the pass is done reading.
  for (const KeyRange& keys : freed_) PST_RETURN_IF_ERROR(ps.TakeArrived(then_pull, keys));
  // With prefetch, the next step's pull into the other buffer, which this
  // pass does not read.
  if (prefetch_) PST_RETURN_IF_ERROR(ps.TakeArrived(TargetFor(clock + 1), all));
  return Status::OK();
}

StatusOr<const float*> TrainStep::PassInput(PsClient& ps, uint64_t clock, StepResult* result) {
  if (!ps.pull_views()) return buffer(clock);
  if (complete_clock_ != clock) {
    const auto w0 = SteadyClock::now();
    Status s = ps.WaitKeys(pull_, {0, model_.num_keys()}, options_.timeout, options_.interrupt);
    result->waited += SteadyClock::now() - w0;
    PST_RETURN_IF_ERROR(s);
  }
  return ps.Values(pull_);
}

StatusOr<StepResult> TrainStep::Run(PsClient& ps, uint32_t rank, uint64_t clock,
                                    const Dataset& data, const uint32_t* ids, size_t n,
                                    uint64_t data_order) {
  if (prepared_clock_ != clock)
    return Status::FailedPrecondition("train step at clock " + std::to_string(clock) +
                                      " was not prepared");
  prepared_clock_ = kNone;
  if (n == 0 || n > options_.train.batch_size)
    return Status::InvalidArgument("a step needs 1 to batch_size samples, not " +
                                   std::to_string(n));
  if (data.num_features != model_.num_inputs())
    return Status::InvalidArgument("the data's features do not fit the model's inputs");
  FillBatch(data, ids, n);
  const std::shared_ptr<float[]>& grad = grads_[clock % grads_.size()];
  // Each block's push also asks for the block's values for a later step
  // (push-and-pull: one message each way per block and step): the next
  // step's, or with prefetch the one after it, into this step's buffer (the
  // values land only when that step waits for them). Its version follows
  // this push, so the server answers the moment it has applied it.
  PushSpec push;
  push.rank = rank;
  push.clock = clock;
  push.samples = static_cast<uint32_t>(n);
  push.data_order = data_order;
  push.grad = grad.get();
  push.owner = grad;
  push.then_pull = TargetFor(clock + (prefetch_ ? 2 : 1));
  const PullTarget then_pull = push.then_pull;
  ps.BeginPush(std::move(push));
  freed_.clear();

  StepResult result;
  PST_ASSIGN_OR_RETURN(const float* values, PassInput(ps, clock, &result));
  const bool waited_all = complete_clock_ == clock || ps.pull_views();
  // Copying arrived values counts as waiting for pulls (transfer, not compute).
  auto take_arrived = [&]() -> Status {
    if (!early_copy_) return Status::OK();
    const auto w0 = SteadyClock::now();
    Status s = TakeArrived(ps, clock, then_pull);
    result.waited += SteadyClock::now() - w0;
    return s;
  };
  hooks_.wait_params = [&](uint64_t begin, uint64_t end) -> Status {
    if (waited_all) return Status::OK();
    const auto w0 = SteadyClock::now();
    Status s = ps.WaitKeys(pull_, {begin, end}, options_.timeout, options_.interrupt);
    result.waited += SteadyClock::now() - w0;
    PST_RETURN_IF_ERROR(s);
    return take_arrived();
  };
  hooks_.params_free = nullptr;
  if (early_copy_) {
    hooks_.params_free = [&](uint64_t begin, uint64_t end) -> Status {
      NoteFreed({begin, end});
      return take_arrived();
    };
  }
  // With clipping the norm is known only at the end of the pass, so blocks
  // are pushed then instead of as they are finished.
  const bool clip = options_.clip_norm > 0;
  hooks_.grad_ready = [&](uint64_t begin, uint64_t end) -> Status {
    if (clip) return Status::OK();
    const auto p0 = SteadyClock::now();
    Status s = ps.GradReady({begin, end});
    result.pushing += SteadyClock::now() - p0;
    PST_RETURN_IF_ERROR(s);
    return take_arrived();
  };
  const Batch batch{batch_x_.data(), batch_y_.data(), n};
  PST_ASSIGN_OR_RETURN(result.loss_sum,
                       model_.ComputeGradients(values, batch, grad.get(), hooks_));
  if (clip) {
    ClipGradientSum(grad.get(), model_.num_keys(), n, options_.clip_norm);
    const auto p0 = SteadyClock::now();
    Status s = ps.GradReady({0, model_.num_keys()});
    result.pushing += SteadyClock::now() - p0;
    PST_RETURN_IF_ERROR(s);
  }
  PST_RETURN_IF_ERROR(ps.EndPush());
  result.total = SteadyClock::now() - started_;
  // The next version is on its way already (asked for by the pushes, or
  // prefetched); this only starts a pull if neither happened. Each server
  // answers a block the moment it has been updated.
  complete_clock_ = kNone;
  PST_RETURN_IF_ERROR(ps.EnsurePull(TargetFor(clock + 1)).status());
  return result;
}

StatusOr<const float*> TrainStep::PulledModel(PsClient& ps, uint64_t clock, uint64_t min_version) {
  if (complete_clock_ == clock)
    if (const float* values = ps.Values(complete_pull_)) return values;
  complete_clock_ = kNone;
  PST_ASSIGN_OR_RETURN(PullHandle pull, ps.EnsurePull({buffer(clock), clock, min_version}));
  PST_RETURN_IF_ERROR(ps.WaitAll(pull, options_.timeout, options_.interrupt).status());
  complete_clock_ = clock;
  complete_pull_ = pull;
  return ps.Values(pull);
}

}  // namespace pst
