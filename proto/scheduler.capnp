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
  recovering @4;  # rolling back to a checkpoint (a PS died, the scheduler
                  # restarted); workers wait, PS restore, then the job runs on
}

# Node -> scheduler, answered at once with RegisterResponse; JobStart follows
# (unsolicited) when every expected node has registered.
struct RegisterRequest {
  role @0 :Role;
  endpoint @1 :Text;       # where peers reach this node ("" for workers)
  pid @2 :UInt32;
  host @3 :Text;
  shardId @4 :Int32 = -1;        # PS: the shard it serves (its state directory
                                 # holds that shard); -1: any free one
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
  numWorkers @2 :UInt32;         # workers [0, numWorkers) exist at the start
  generation @3 :UInt32;         # see HeartbeatResponse
  restoreCheckpoint @4 :UInt64;  # PS: restore this complete checkpoint (0: initial model)
  resumeClock @5 :UInt64;        # the clock training (re)starts at
  workers @6 :List(WorkerSlot);  # PS: the workers to wait for, from their clocks
  slotMap @7 :List(UInt32);      # sparse jobs: the PS rank of each virtual slot
                                 # (the scheduler's SlotMap); empty for dense jobs
}

# A worker the PS must wait for (BSP) / account for (SSP), from clock fromClock.
struct WorkerSlot {
  rank @0 :UInt32;
  fromClock @1 :UInt64;
}

# PS -> scheduler (in heartbeats): a worker the PS stopped waiting for, and the
# number of clocks it had pushed completely (every block).
struct RemovedWorker {
  rank @0 :UInt32;
  completedClocks @1 :UInt64;
}

struct HeartbeatRequest {
  role @0 :Role;
  rank @1 :UInt32;
  clock @2 :UInt64;              # worker: next clock to compute; PS: model version
  samples @3 :UInt64;            # worker: samples trained so far (cumulative)
  lossSum @4 :Float64;           # worker: sum of per-sample losses so far (cumulative)
  steps @5 :UInt64;              # worker: steps with data so far (cumulative)
  maxStaleness @6 :UInt64;       # largest staleness observed (worker) or served (PS) so far
  generation @7 :UInt32;         # the generation the node has caught up with
  # PS only: the checkpoint round state and the roster it applies.
  checkpointWritten @8 :UInt64;  # newest checkpoint id written durably (phase 1)
  checkpointFailed @9 :UInt64;   # newest checkpoint id this PS could not take
  checkpointError @10 :Text;     # why (for the scheduler's log)
  workers @11 :List(WorkerSlot); # workers the PS waits for
  removed @12 :List(RemovedWorker);
  restoreError @13 :Text;        # non-empty: restoring generation's checkpoint failed
  # Worker only: cumulative latency histograms since the worker started, as
  # common/latency_histogram.h defines them (per-bucket counts, not cumulative,
  # one per LatencyHistogram bucket; empty: not measured). Pull: a block's
  # PullRequest sent -> its answer received; push: a gradient block's
  # PushRequest sent -> its ack received.
  pullLatencyBuckets @14 :List(UInt64);
  pullLatencySumSeconds @15 :Float64;
  pushLatencyBuckets @16 :List(UInt64);
  pushLatencySumSeconds @17 :Float64;
  sparseTables @18 :List(SparseTableStatus);  # PS only: its sparse tables' accounting
  # PS only: requests it refused by each limit so far (common/client_table.h).
  limitRefusals @19 :LimitRefusals;
}

# One sparse embedding table on one PS shard (see ps/sparse_table.h).
struct SparseTableStatus {
  table @0 :Text;
  rows @1 :UInt64;               # live rows
  bytes @2 :UInt64;              # memory the table holds
  rawBytesPerRow @3 :UInt64;     # id + row + optimizer state, bytes
  admitted @4 :UInt64;           # rows created (cumulative)
  evicted @5 :UInt64;            # rows dropped by eviction (cumulative)
  unadmittedUpdates @6 :UInt64;  # updates dropped while an id waited for admission (cumulative)
  changedRows @7 :UInt64;        # rows written since the last checkpoint capture
}

# Requests a server refused by each of its limits (cumulative).
struct LimitRefusals {
  frame @0 :UInt64;     # a frame or message over the wire limits
  ids @1 :UInt64;       # more ids in one request than allowed
  clients @2 :UInt64;   # a new client beyond max_clients
  inFlight @3 :UInt64;  # a request beyond max_in_flight_per_client
  # Connections its CURVE server refused (common/zap_handler.h): a client key
  # that is not the cluster's; a failed handshake (no CURVE, another cluster's
  # server key).
  clientKey @4 :UInt64;
  handshake @5 :UInt64;
}

# Answers a heartbeat with the job's desired state; nodes converge to it (every
# field is absolute, so a lost or repeated heartbeat does no harm).
struct HeartbeatResponse {
  status @0 :RpcStatus;
  state @1 :JobState;
  generation @2 :UInt32;         # bumped by every rollback to a checkpoint
  restoreCheckpoint @3 :UInt64;  # the generation starts from this complete
  resumeClock @4 :UInt64;        # checkpoint (0: initial model) at this clock
  checkpointId @5 :UInt64;       # PS: capture checkpoint checkpointId at clock
  checkpointClock @6 :UInt64;    # checkpointClock (0: no round in flight)
  committedCheckpoint @7 :UInt64;  # PS: newest complete checkpoint: commit it
  workers @8 :List(WorkerSlot);  # PS: the workers to wait for
  leave @9 :Bool;                # worker: hand back your lease and leave (scaled down)
  directiveSeq @10 :UInt64;      # grows whenever the fields above change; a node
                                 # ignores an answer older than one it applied
  heartbeatIntervalMs @11 :UInt64;  # heartbeat every this from now on (0: unchanged);
                                 # the scheduler lengthens it for large jobs
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
  generation @11 :UInt32;        # the generation the worker is in
  reportOnly @12 :Bool;          # ASP/SSP: only report the completed lease, lease nothing
                                 # (the answer is `reported`, maybe with an evaluation order)
}

enum ShardReplyKind {
  lease @0;                      # train on samples [sampleBegin, sampleEnd) of epoch's order
  idle @1;                       # nothing to do until clock idleUntil; ask again then
  done @2;                       # every epoch is leased out and finished: exit
  wait @3;                       # not now (joining, recovering): ask again shortly
  restart @4;                    # drop the current lease and pulls; continue at
                                 # resumeClock in generation with these servers
  reported @5;                   # a reportOnly request was recorded; nothing leased
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
  generation @10 :UInt32;        # restart: the new generation, its clock and servers
  resumeClock @11 :UInt64;
  servers @12 :List(ServerInfo);
}

struct EvalReport {
  rank @0 :UInt32;
  epoch @1 :UInt32;
  version @2 :UInt64;
  correct @3 :UInt64;
  total @4 :UInt64;
  lossSum @5 :Float64;
  hasAuc @6 :Bool;               # binary classifiers (sparse models): the test AUC
  auc @7 :Float64;
}

# A node leaving on purpose (job done or shutdown).
struct LeaveRequest {
  role @0 :Role;
  rank @1 :UInt32;
}

# Client -> scheduler: take a coordinated checkpoint now (answered once it is
# complete or failed, or at once with kFailedPrecondition if the job is not running).
struct CheckpointRequest {
  timeoutMs @0 :UInt64;
}

struct CheckpointResponse {
  status @0 :RpcStatus;
  checkpointId @1 :UInt64;
  clock @2 :UInt64;
  durationMs @3 :Float64;
}

# Client -> scheduler: the job should have this many workers. The scheduler
# does not start processes: a supervising `pstrain launch` sees desiredWorkers
# in the job status and starts more (anyone may start pstrain-worker processes).
# With fewer, the scheduler tells the surplus workers (highest ranks) to leave.
struct ScaleRequest {
  workers @0 :UInt32;
}

struct ScaleResponse {
  status @0 :RpcStatus;
  liveWorkers @1 :UInt32;        # live workers when the request arrived
  desiredWorkers @2 :UInt32;
}

struct CheckpointInfo {
  id @0 :UInt64;
  clock @1 :UInt64;
  generation @2 :UInt32;
  durationMs @3 :Float64;
  unixMs @4 :Int64;
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
  hasAuc @12 :Bool;              # sparse models: the test AUC of the evaluation
  testAuc @13 :Float64;
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
  sparseTables @13 :List(SparseTableStatus);  # PS: from its last heartbeat
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
  generation @9 :UInt32;
  checkpoints @10 :List(CheckpointInfo);  # complete checkpoints, oldest first
  rollbacks @11 :List(RollbackInfo);
  desiredWorkers @12 :UInt32;    # see ScaleRequest
  waitingFor @13 :Text;          # non-empty: what the job waits for and why it
                                 # cannot go on, e.g. "waiting for a worker: the
                                 # evaluation of epoch 2 has no live worker"
}

struct RollbackInfo {
  generation @0 :UInt32;         # the generation it started
  checkpointId @1 :UInt64;       # restored from (0: the initial model)
  clock @2 :UInt64;              # resumed at
  lostClocks @3 :UInt64;         # clocks redone: furthest worker clock - clock
  reason @4 :Text;
  startMs @5 :UInt64;            # since the job started running
  endMs @6 :UInt64;              # when every PS had restored (0: still running)
}
