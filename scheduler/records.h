// The scheduler's records in their one wire form (proto/scheduler.capnp):
// epochs (EpochStats), rollbacks (RollbackInfo) and complete checkpoints
// (CheckpointInfo). The job status, the admin endpoint (through
// SnapshotFromProto) and the persisted job state (scheduler/state_json.h) all
// go through these conversions, so a field is added in the schema, the
// record, and here. Pure functions; FromProto may throw kj::Exception on a
// malformed reader (callers decode inside their own try).
#pragma once

#include <cstdint>

#include "proto/scheduler.capnp.h"
#include "scheduler/scheduler_state.h"

namespace pst {

void ToProto(const EpochRecord& e, uint32_t epoch, proto::EpochStats::Builder b);
EpochRecord FromProto(proto::EpochStats::Reader r);

void ToProto(const RollbackRecord& r, proto::RollbackInfo::Builder b);
RollbackRecord FromProto(proto::RollbackInfo::Reader r);

void ToProto(const CompleteCheckpoint& c, proto::CheckpointInfo::Builder b);
CompleteCheckpoint FromProto(proto::CheckpointInfo::Reader r);

}  // namespace pst
