@0xab1038e339eee615;
# Status values that cross a process boundary. Mirrors pst::StatusCode.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("pst::proto");

enum StatusCode {
  ok @0;
  cancelled @1;
  unknown @2;
  invalidArgument @3;
  deadlineExceeded @4;
  notFound @5;
  alreadyExists @6;
  permissionDenied @7;
  resourceExhausted @8;
  failedPrecondition @9;
  aborted @10;
  outOfRange @11;
  unimplemented @12;
  internal @13;
  unavailable @14;
  dataLoss @15;
  unauthenticated @16;
}

struct RpcStatus {
  code @0 :StatusCode;
  message @1 :Text;
}
