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
  # BSP: where this push's batch lies in the job's data order (epoch x
  # training samples + the batch's first position). A clock sums its pushes in
  # (dataOrder, rank) order, so its update does not depend on which worker
  # trained which batch nor on the order the pushes arrived in. 0 for idle pushes.
  dataOrder @11 :UInt64;
}

struct PushResponse {
  status @0 :RpcStatus;
}

# Sparse embedding tables (ps/sparse_table.h). A request names one table and
# lists unique ids, all in virtual slots this server owns (the slot map of the
# job); at most the server's limit of ids per request (default 2^18). Rows and
# gradients travel as one float frame of ids.size() * dim values, in the order
# of ids. An unknown table, a repeated or foreign id, too many ids or a frame
# of the wrong size get an error reply and change nothing.

# Answered with a SparsePullResponse and one frame of the rows once the table's
# version is >= minVersion (BSP; deferred until then); at once under ASP/SSP.
# A row nobody created reads as its initial values (zeros while the table's
# admission has not admitted the id); a pull creates no row.
struct SparsePullRequest {
  table @0 :Text;
  ids @1 :List(UInt64);
  minVersion @2 :UInt64;
  rank @3 :UInt32;
  clock @4 :UInt64;
  generation @5 :UInt32;
}

struct SparsePullResponse {
  status @0 :RpcStatus;
  dim @1 :UInt32;
  version @2 :UInt64;            # clocks applied to the table (ASP: one past the largest)
}

# Gradient sums over sampleCount samples of clock for the listed ids (one
# frame of ids.size() * dim floats, all finite). ASP/SSP: applied on arrival
# with the mean (sums / sampleCount). BSP: each worker pushes every table once
# per clock (an empty id list when it has nothing); the clock applies once all
# have, with the sums over all workers / all their samples. Answered with a
# SparsePushResponse.
struct SparsePushRequest {
  table @0 :Text;
  ids @1 :List(UInt64);
  rank @2 :UInt32;
  clock @3 :UInt64;
  sampleCount @4 :UInt32;
  generation @5 :UInt32;
  dataOrder @6 :UInt64;  # as PushRequest.dataOrder
}

struct SparsePushResponse {
  status @0 :RpcStatus;
}
