// Options for one parameter-server shard (pst::Server).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/cluster_keys.h"
#include "common/wire.h"
#include "ps/sparse_request.h"

namespace pst {

struct ServerOptions {
  // Scheduler address, e.g. "tcp://10.0.0.1:7000". Required.
  std::string scheduler_endpoint;
  // Interface to bind: an IP, or "0.0.0.0" for all. Default: 127.0.0.1.
  std::string bind_host = "127.0.0.1";
  // TCP port to bind; 0 picks a free one. Default: 0.
  uint16_t port = 0;
  // Host name or IP that workers use to reach this server. Default: bind_host
  // (or this machine's host name when binding 0.0.0.0).
  std::string advertise_host;
  // The scheduler must answer registration within this. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10000};
  // Every node must register within this. Default: 120 s.
  std::chrono::milliseconds form_timeout{120000};
  // How far (in clocks) pushes and pulls may run ahead of the applied model
  // version before they are refused with kOutOfRange. Default: 1024.
  uint64_t max_clocks_ahead = 1024;
  // The shard id to serve; its checkpoints live in state_dir. -1 takes any
  // free one from the scheduler. Default: -1.
  int32_t shard_id = -1;
  // Directory of this shard's RocksDB checkpoint store (created if missing).
  // "" keeps checkpoints in memory only: they survive nothing, so a job with
  // such a PS cannot be resumed. Default: "".
  std::string state_dir;
  // The serving loop wakes at least this often to follow the scheduler's
  // directives and notice the job's end. Default: 100 ms.
  std::chrono::milliseconds poll_interval{100};
  // At most this many waiting messages are handled before deferred pulls are
  // looked at again. Default: 4096.
  int drain_budget = 4096;
  // Restoring a checkpoint first waits this long for the writer to finish
  // what it has queued (a write or commit of the same checkpoint). Default: 10 min.
  std::chrono::milliseconds restore_drain_timeout{600000};
  // On exit, queued checkpoint writes get this long to finish. Default: 60 s.
  std::chrono::milliseconds exit_drain_timeout{60000};
  // How long to wait for the scheduler to acknowledge that this PS leaves
  // (best effort). Default: 1 s.
  std::chrono::milliseconds leave_timeout{1000};
  // Sparse tables: a full checkpoint at least every this many increments
  // (see ps/sparse_chain.h), in [1, kMaxSparseChain]. Default: 8.
  uint32_t sparse_max_chain = 8;
  // Size limits for received messages. The largest float frame is the job's
  // network.max_frame_bytes (or max_frame_bytes below) once registered.
  WireLimits limits;
  // Overrides of the job's limits (its [network] section; see
  // common/job_spec.h NetworkSpec); 0 takes the job's. Defaults: 0.
  uint32_t max_clients = 0;
  uint32_t max_in_flight_per_client = 0;
  uint32_t max_ids_per_request = 0;
  // Also bounds ZeroMQ's message size when the socket is bound (a frame over
  // twice this makes ZeroMQ drop the connection, with no reply).
  uint64_t max_frame_bytes = 0;
  // The cluster's keys: every socket uses CurveZMQ with them (see
  // common/cluster_keys.h). Null: plain TCP. Default: null.
  std::shared_ptr<const ClusterKeys> curve;
};

}  // namespace pst
