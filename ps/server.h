// pst::Server: one parameter-server shard. It registers with the scheduler,
// receives its rank and key range of the model, initialises those parameters,
// and then answers Pull and Push from workers until the job ends:
//  - Push adds a worker's gradient sums for a clock; under BSP, once every
//    worker has pushed clock t the mean gradient is applied with the job's
//    optimizer (server-side) and the model version becomes t + 1.
//  - Pull answers with the values of a key range once the model version is at
//    least the requested one (deferred until then). A push may ask for that
//    pull itself (thenPull): its answer is then the pull's.
// It follows the scheduler's directives carried by heartbeat answers: the
// workers to wait for, coordinated checkpoints (captured at a clock boundary,
// written to its RocksDB store on a writer thread, committed once every shard
// has written) and rollbacks to a complete checkpoint (a new generation;
// requests of other generations get kAborted).
// Malformed or out-of-range requests get an error reply; they never change
// state or stop the server. Single-threaded: Run() does all the work on the
// calling thread; Shutdown() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/bind.h"
#include "common/job_spec.h"
#include "common/key_range.h"
#include "common/registration.h"
#include "common/status.h"
#include "ps/server_options.h"

namespace pst {

class SparseHandler;
struct CheckpointManifest;

class ServerState;

class Server {
 public:
  // Binds the worker-facing socket. kInvalidArgument for bad options,
  // kUnavailable if the address cannot be bound.
  static StatusOr<std::unique_ptr<Server>> Create(zmq::context_t& ctx,
                                                  const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The address workers connect to, e.g. "tcp://127.0.0.1:41234".
  const std::string& endpoint() const { return endpoint_; }

  // Joins the job and serves until the scheduler reports the job done (OK),
  // failed (kAborted), Shutdown() is called (OK), or the scheduler is lost
  // (kUnavailable). Blocks.
  Status Run();
  // Makes Run() return soon. Thread-safe, async-signal-unsafe.
  void Shutdown() { stop_ = true; }

 private:
  Server(zmq::context_t& ctx, ServerOptions options, BoundRouter bound);
  // Hands a worker's message to the sparse or the dense request handler.
  void HandleRequest(InMessage& in);
  // Takes the job's limits (network section) where no option overrides them.
  void ApplyJobLimits(const NetworkSpec& job);
  // (Re)creates the shard for `generation`: the initial model (checkpoint 0)
  // or the complete checkpoint from the store, with `workers` to wait for.
  // Pending pulls of the old generation are answered kAborted.
  Status BuildShard(uint32_t generation, uint64_t checkpoint, uint64_t clock,
                    const std::vector<WorkerSlot>& workers);
  // Restores `sparse` (fresh) from checkpoint m's sparse chain; returns the
  // rows its increments held. kFailedPrecondition / kDataLoss as
  // SparseShard::Restore.
  StatusOr<uint64_t> RestoreSparse(SparseHandler& sparse, const CheckpointManifest& m);
  // Adds and removes workers so the shard waits for exactly `workers`.
  void ApplyRoster(const std::vector<WorkerSlot>& workers);
  // Hands a capture whose blocks and tables are all taken to the writer.
  void WriteReadyCapture();
  // Reports the writer's finished checkpoint writes (heartbeat, log).
  void PollWriter();
  // Moves toward the scheduler's latest directive: a new generation (restore),
  // the roster, checkpoint rounds and commits; refreshes the heartbeat report.
  void Converge();

  zmq::context_t& ctx_;
  ServerOptions options_;
  std::unique_ptr<ZapHandler> zap_;  // with CURVE; outlives socket_
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::unique_ptr<ServerState> state_;
};

}  // namespace pst
