@0xbe3e077532cb19c6;
# Messages between workers and parameter servers. Parameter and gradient values
# travel as float32 frames after the envelope (see envelope.capnp), never in here.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

using import "status.capnp".RpcStatus;

# Answered with the values of global keys [keyBegin, keyEnd) in one bulk frame
# once the keys' blocks are ready: under BSP when their version (clocks applied)
# is >= minVersion; under SSP when every live worker has pushed clocks
# [0, minVersion) (the puller sends its clock minus the staleness bound); under
# ASP at once.
struct PullRequest {
  keyBegin @0 :UInt64;
  keyEnd @1 :UInt64;
  minVersion @2 :UInt64;
  rank @3 :UInt32;               # the pulling worker, and the clock it is at
  clock @4 :UInt64;              # (used to measure staleness)
  generation @5 :UInt32;         # the puller's generation; others get kAborted
}

struct PullResponse {
  status @0 :RpcStatus;
  keyBegin @1 :UInt64;
  keyEnd @2 :UInt64;
  version @3 :UInt64;            # number of updates applied to these values
  slowestClock @4 :UInt64;       # ASP/SSP: clocks every live worker has pushed
}

# Gradient sums over sampleCount samples for clock, for keys [keyBegin, keyEnd),
# which must be exactly one of the server's blocks (its range split into blocks
# of the job's train.blockKeys). A worker pushes every block once per clock.
# sampleCount 0 with an empty range means "nothing to contribute at this clock"
# for every block (an idle worker in BSP).
struct PushRequest {
  rank @0 :UInt32;
  clock @1 :UInt64;
  keyBegin @2 :UInt64;
  keyEnd @3 :UInt64;
  sampleCount @4 :UInt32;
  chunks @5 :UInt32;             # unused since pushes are per block; kept for the wire
  retire @6 :Bool;               # ASP/SSP: this worker pushes no more; stop waiting for it
  generation @7 :UInt32;         # the pusher's generation; others get kAborted
  # Push-and-pull: the answer to this push is a PullResponse for the same keys at
  # version >= pullMinVersion (deferred until then, like a pull), not a
  # PushResponse; a refused push is reported in that PullResponse's status. The
  # puller's clock for staleness is pullClock, or clock + 1 when pullClock is 0
  # (a worker prefetching under SSP asks at clock c for clock c + 2). Saves a
  # request and an ack per block and step.
  thenPull @8 :Bool;
  pullMinVersion @9 :UInt64;
  pullClock @10 :UInt64;
}

struct PushResponse {
  status @0 :RpcStatus;
}
