@0x9c01ac66c4de4cf5;
# Messages between nodes (PS, workers, CLI clients) and the scheduler.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

using import "status.capnp".RpcStatus;
using import "job.capnp".JobSpec;

enum Role { scheduler @0; server @1; worker @2; client @3; }

enum JobState {
  forming @0;   # waiting for every PS and worker to register
  running @1;
  done @2;      # all epochs trained and the final evaluation reported
  failed @3;    # see JobStatusResponse.message
}

# Node -> scheduler, answered at once with RegisterResponse; JobStart follows
# (unsolicited) when every expected node has registered.
struct RegisterRequest {
  role @0 :Role;
  endpoint @1 :Text;       # where peers reach this node ("" for workers)
  pid @2 :UInt32;
  host @3 :Text;
}

struct RegisterResponse {
  status @0 :RpcStatus;
  rank @1 :UInt32;               # 0-based among nodes of the same role
  heartbeatIntervalMs @2 :UInt64;
}

struct ServerInfo {
  rank @0 :UInt32;
  endpoint @1 :Text;
  keyBegin @2 :UInt64;           # global keys [keyBegin, keyEnd) live on this PS
  keyEnd @3 :UInt64;
}

struct JobStart {
  job @0 :JobSpec;
  servers @1 :List(ServerInfo);
  numWorkers @2 :UInt32;
}

struct HeartbeatRequest {
  role @0 :Role;
  rank @1 :UInt32;
  clock @2 :UInt64;              # worker: next clock to compute; PS: model version
  samples @3 :UInt64;            # worker: samples trained so far (cumulative)
  lossSum @4 :Float64;           # worker: sum of per-sample losses so far (cumulative)
  steps @5 :UInt64;              # worker: steps with data so far (cumulative)
  maxStaleness @6 :UInt64;       # largest staleness observed (worker) or served (PS) so far
}

struct HeartbeatResponse {
  status @0 :RpcStatus;
  state @1 :JobState;
}

# Worker -> scheduler: report the lease just finished (if any) and ask for the next.
struct ShardRequest {
  rank @0 :UInt32;
  clock @1 :UInt64;              # the clock at which a new lease would start
  hasCompleted @2 :Bool;
  completedEpoch @3 :UInt32;
  completedShard @4 :UInt32;
  completedLossSum @5 :Float64;
  completedSamples @6 :UInt64;
  numSamples @7 :UInt64;         # size of the worker's training set; all workers must agree
  completedWaitMs @8 :Float64;   # time the completed lease spent waiting for pulls,
  completedComputeMs @9 :Float64;  # computing (forward/backward, batch assembly)
  completedPushMs @10 :Float64;  # and sending pushes
}

enum ShardReplyKind {
  lease @0;                      # train on samples [sampleBegin, sampleEnd) of epoch's order
  idle @1;                       # nothing to do until clock idleUntil; ask again then
  done @2;                       # every epoch is leased out and finished: exit
}

struct ShardResponse {
  status @0 :RpcStatus;
  kind @1 :ShardReplyKind;
  epoch @2 :UInt32;
  shard @3 :UInt32;
  sampleBegin @4 :UInt64;
  sampleEnd @5 :UInt64;
  idleUntil @6 :UInt64;
  evaluate @7 :Bool;             # evaluate the model of version evalVersion on the test set
  evalEpoch @8 :UInt32;
  evalVersion @9 :UInt64;
}

struct EvalReport {
  rank @0 :UInt32;
  epoch @1 :UInt32;
  version @2 :UInt64;
  correct @3 :UInt64;
  total @4 :UInt64;
  lossSum @5 :Float64;
}

# A node leaving on purpose (job done or shutdown).
struct LeaveRequest {
  role @0 :Role;
  rank @1 :UInt32;
}

struct JobStatusRequest {}

struct EpochStats {
  epoch @0 :UInt32;
  samples @1 :UInt64;            # training samples finished in this epoch
  lossSum @2 :Float64;
  evaluated @3 :Bool;
  testCorrect @4 :UInt64;
  testTotal @5 :UInt64;
  testLossSum @6 :Float64;
  startMs @7 :UInt64;            # since the job started running
  endMs @8 :UInt64;              # 0 while the epoch runs
  waitMs @9 :Float64;            # workers' time in the epoch's leases: waiting for pulls
  computeMs @10 :Float64;        # (which includes BSP/SSP barriers), computing,
  pushMs @11 :Float64;           # and sending pushes; summed over workers
}

enum NodeState { alive @0; suspect @1; dead @2; left @3; }

struct NodeStatus {
  role @0 :Role;
  rank @1 :UInt32;
  endpoint @2 :Text;
  host @3 :Text;
  pid @4 :UInt32;
  state @5 :NodeState;
  clock @6 :UInt64;
  samples @7 :UInt64;
  lossSum @8 :Float64;
  steps @9 :UInt64;
  lastHeartbeatAgeMs @10 :UInt64;
  samplesPerSecond @11 :Float64; # worker: training speed from its recent heartbeats
  maxStaleness @12 :UInt64;      # largest staleness the node has seen (see HeartbeatRequest)
}

struct JobStatusResponse {
  status @0 :RpcStatus;
  state @1 :JobState;
  message @2 :Text;              # why the job failed, when it did
  totalEpochs @3 :UInt32;
  samplesPerEpoch @4 :UInt64;
  epochs @5 :List(EpochStats);
  nodes @6 :List(NodeStatus);
  elapsedMs @7 :UInt64;          # training time: from the first shard lease to the job's end
  adminUrl @8 :Text;             # the scheduler's HTTP admin endpoint ("" when disabled)
}
