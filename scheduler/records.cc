#include "scheduler/records.h"

namespace pst {

void ToProto(const EpochRecord& e, uint32_t epoch, proto::EpochStats::Builder b) {
  b.setEpoch(epoch);
  b.setSamples(e.samples);
  b.setLossSum(e.loss_sum);
  b.setEvaluated(e.evaluated);
  b.setTestCorrect(e.test_correct);
  b.setTestTotal(e.test_total);
  b.setTestLossSum(e.test_loss_sum);
  b.setHasAuc(e.has_auc);
  b.setTestAuc(e.test_auc);
  b.setStartMs(e.start_ms);
  b.setEndMs(e.end_ms);
  b.setWaitMs(e.wait_ms);
  b.setComputeMs(e.compute_ms);
  b.setPushMs(e.push_ms);
}

EpochRecord FromProto(proto::EpochStats::Reader r) {
  EpochRecord e;
  e.samples = r.getSamples();
  e.loss_sum = r.getLossSum();
  e.evaluated = r.getEvaluated();
  e.test_correct = r.getTestCorrect();
  e.test_total = r.getTestTotal();
  e.test_loss_sum = r.getTestLossSum();
  e.has_auc = r.getHasAuc();
  e.test_auc = r.getTestAuc();
  e.start_ms = r.getStartMs();
  e.end_ms = r.getEndMs();
  e.wait_ms = r.getWaitMs();
  e.compute_ms = r.getComputeMs();
  e.push_ms = r.getPushMs();
  return e;
}

void ToProto(const RollbackRecord& r, proto::RollbackInfo::Builder b) {
  b.setGeneration(r.generation);
  b.setCheckpointId(r.checkpoint_id);
  b.setClock(r.clock);
  b.setLostClocks(r.lost_clocks);
  b.setReason(r.reason);
  b.setStartMs(r.start_ms);
  b.setEndMs(r.end_ms);
}

RollbackRecord FromProto(proto::RollbackInfo::Reader b) {
  RollbackRecord r;
  r.generation = b.getGeneration();
  r.checkpoint_id = b.getCheckpointId();
  r.clock = b.getClock();
  r.lost_clocks = b.getLostClocks();
  r.reason = b.getReason().cStr();
  r.start_ms = b.getStartMs();
  r.end_ms = b.getEndMs();
  return r;
}

void ToProto(const CompleteCheckpoint& c, proto::CheckpointInfo::Builder b) {
  b.setId(c.id);
  b.setClock(c.clock);
  b.setGeneration(c.generation);
  b.setDurationMs(c.duration_ms);
  b.setUnixMs(c.unix_ms);
}

CompleteCheckpoint FromProto(proto::CheckpointInfo::Reader r) {
  return {r.getId(), r.getClock(), r.getGeneration(), r.getDurationMs(), r.getUnixMs()};
}

}  // namespace pst
