@0xbe3e077532cb19c6;
# Messages between workers and parameter servers. Parameter and gradient values
# travel as float32 frames after the envelope (see envelope.capnp), never in here.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

using import "status.capnp".RpcStatus;

# Answered once the server's model version is >= minVersion, with the values of
# global keys [keyBegin, keyEnd) in one bulk frame.
struct PullRequest {
  keyBegin @0 :UInt64;
  keyEnd @1 :UInt64;
  minVersion @2 :UInt64;
}

struct PullResponse {
  status @0 :RpcStatus;
  keyBegin @1 :UInt64;
  keyEnd @2 :UInt64;
  version @3 :UInt64;            # number of updates applied to these values
}

# Gradient sums for keys [keyBegin, keyEnd) over sampleCount samples, for clock.
# A worker sends `chunks` pushes per clock to each server; sampleCount and the
# chunk count are the same in each. sampleCount 0 with an empty range means
# "nothing to contribute at this clock" (an idle worker in BSP).
struct PushRequest {
  rank @0 :UInt32;
  clock @1 :UInt64;
  keyBegin @2 :UInt64;
  keyEnd @3 :UInt64;
  sampleCount @4 :UInt32;
  chunks @5 :UInt32;
}

struct PushResponse {
  status @0 :RpcStatus;
}
