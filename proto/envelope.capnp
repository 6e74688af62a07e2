@0xcd02684e7b4968bc;
# The one struct every ZeroMQ message starts with. Bulk float32 payloads follow
# as separate frames; floatsPerFrame says how many floats each holds and the
# receiver checks it against the frame sizes.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

using Status = import "status.capnp";
using Sched = import "scheduler.capnp";
using Ps = import "ps.capnp";

struct Envelope {
  requestId @0 :UInt64;          # echoed in the reply; 0 for unsolicited messages
  floatsPerFrame @1 :List(UInt64);
  body :union {
    error @2 :Status.RpcStatus;  # reply to a request that could not be decoded or routed
    registerRequest @3 :Sched.RegisterRequest;
    registerResponse @4 :Sched.RegisterResponse;
    jobStart @5 :Sched.JobStart;
    heartbeatRequest @6 :Sched.HeartbeatRequest;
    heartbeatResponse @7 :Sched.HeartbeatResponse;
    shardRequest @8 :Sched.ShardRequest;
    shardResponse @9 :Sched.ShardResponse;
    evalReport @10 :Sched.EvalReport;
    ack @11 :Status.RpcStatus;   # reply carrying only a status
    leaveRequest @12 :Sched.LeaveRequest;
    jobStatusRequest @13 :Sched.JobStatusRequest;
    jobStatusResponse @14 :Sched.JobStatusResponse;
    pullRequest @15 :Ps.PullRequest;
    pullResponse @16 :Ps.PullResponse;
    pushRequest @17 :Ps.PushRequest;
    pushResponse @18 :Ps.PushResponse;
    checkpointRequest @19 :Sched.CheckpointRequest;
    checkpointResponse @20 :Sched.CheckpointResponse;
    scaleRequest @21 :Sched.ScaleRequest;
    scaleResponse @22 :Sched.ScaleResponse;
    sparsePullRequest @23 :Ps.SparsePullRequest;
    sparsePullResponse @24 :Ps.SparsePullResponse;
    sparsePushRequest @25 :Ps.SparsePushRequest;
    sparsePushResponse @26 :Ps.SparsePushResponse;
  }
}
