#include "worker/eval_reporter.h"

#include "common/log.h"
#include "common/model_file.h"

namespace pst {

StatusOr<std::unique_ptr<EvalReporter>> EvalReporter::Create(const Dataset& test,
                                                             Channel& scheduler,
                                                             const EvalReporterOptions& options) {
  PST_ASSIGN_OR_RETURN(auto evaluator, BackgroundEvaluator::Create(options.model, test));
  return std::unique_ptr<EvalReporter>(
      new EvalReporter(test, scheduler, options, std::move(evaluator)));
}

Status EvalReporter::Report(const BackgroundEvaluator::Result& ev, bool final_model) {
  const double accuracy = double(ev.eval.correct) / test_.num_samples;
  PST_LOG_INFO("epoch {}: test accuracy {:.4f}", ev.epoch + 1, accuracy);
  const float target = options_.target_accuracy;
  if (target > 0 && accuracy >= target) {
    final_model = true;
    target_reached_ = true;
  }
  if (final_model && !options_.model_out.empty()) {
    PST_RETURN_IF_ERROR(SaveModel(options_.model_out, options_.model, evaluator_->params()));
    PST_LOG_INFO("saved the final model to {}", options_.model_out);
  }
  OutMessage msg;
  auto r = msg.envelope().getBody().initEvalReport();
  r.setRank(options_.rank);
  r.setEpoch(ev.epoch);
  r.setVersion(ev.version);
  r.setCorrect(ev.eval.correct);
  r.setTotal(test_.num_samples);
  r.setLossSum(ev.eval.loss_sum);
  PST_ASSIGN_OR_RETURN(InMessage reply, sched_.Call(msg, options_.timeout, options_.interrupt));
  if (!reply.envelope().getBody().isAck())
    return Status::InvalidArgument("scheduler answered an eval report with the wrong message");
  return FromRpcStatus(reply.envelope().getBody().getAck());
}

Status EvalReporter::Start(const EvalOrder& order, const float* params, bool final_model) {
  // Waiting for it anyway (the final model), or no room for a copy: in place.
  const bool in_place = final_model || 4 * evaluator_->num_params() > options_.max_copy_bytes;
  PST_RETURN_IF_ERROR(evaluator_->Submit(order.epoch, order.version, params,
                                         in_place ? BackgroundEvaluator::Snapshot::kBorrow
                                                  : BackgroundEvaluator::Snapshot::kCopy));
  if (!in_place) return Status::OK();
  auto ev = evaluator_->Wait();
  return Report(*ev, final_model);
}

Status EvalReporter::Poll() {
  if (auto ev = evaluator_->TakeResult()) return Report(*ev, false);
  return Status::OK();
}

Status EvalReporter::Finish() {
  if (auto ev = evaluator_->Wait()) return Report(*ev, false);
  return Status::OK();
}

}  // namespace pst
