#include "ps/server.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>

#include "common/bind.h"
#include "common/channel.h"
#include "common/client_table.h"
#include "common/consistency.h"
#include "common/heartbeat.h"
#include "common/job_tables.h"
#include "common/log.h"
#include "common/log_throttle.h"
#include "common/mutex.h"
#include "common/registration.h"
#include "common/sparse_table_report.h"
#include "ps/checkpoint_writer.h"
#include "ps/job_fingerprint.h"
#include "ps/live_capture.h"
#include "ps/memory_param_store.h"
#include "ps/request_handler.h"
#include "ps/rocksdb_param_store.h"
#include "ps/shard.h"
#include "ps/sparse_chain.h"
#include "ps/sparse_digest.h"
#include "ps/sparse_handler.h"

namespace pst {

// Everything that exists once the job has started.
class ServerState {
 public:
  // What the scheduler wants (from its heartbeat answers). Written by the
  // heartbeat thread, read by the serving thread, under mu.
  struct Directive {
    uint32_t generation = 0;
    uint64_t restore_checkpoint = 0;
    uint64_t resume_clock = 0;
    uint64_t checkpoint_id = 0;
    uint64_t checkpoint_clock = 0;
    uint64_t committed = 0;
    std::vector<WorkerSlot> workers;
    bool has_workers = false;  // at least one answer arrived
    uint64_t seq = 0;          // the scheduler's directiveSeq
  };
  // What this PS reports back in its heartbeats, under mu.
  struct Report {
    uint32_t generation = 0;
    uint64_t clock = 0;
    uint64_t max_staleness = 0;
    uint64_t checkpoint_written = 0;
    uint64_t checkpoint_failed = 0;
    std::string checkpoint_error;
    std::string restore_error;
    std::vector<WorkerSlot> workers;
    std::map<uint32_t, uint64_t> removed;  // rank -> completed clocks
    std::vector<SparseTableReport> sparse_tables;
    LimitRefusals refusals;
  };
  Mutex mu;
  Directive directive GUARDED_BY(mu);
  Report report GUARDED_BY(mu);
  bool poke GUARDED_BY(mu) = false;  // the report has news: send a heartbeat now

  JoinedJob joined;
  KeyRange range;
  // The workers (and anyone else) sending requests, with the job's limits.
  ClientTable clients;
  RefusedMessageLog refused_log;  // the serving thread's
  SparseRequestLimits sparse_limits;
  std::unique_ptr<Shard> shard;
  std::unique_ptr<RequestHandler> handler;  // serves `shard`, knows the generation
  // The job's sparse tables on this shard, rebuilt (and restored from the
  // generation's checkpoint) like the dense shard.
  std::unique_ptr<SparseHandler> sparse;
  std::unique_ptr<SparseChain> sparse_chain;  // full or incremental next
  SparseChain::Next sparse_next;              // what the capture in flight is
  std::unique_ptr<CheckpointWriter> writer;
  // The roster the shard applies (rank -> from clock).
  std::map<uint32_t, uint64_t> roster;
  uint64_t checkpoint_begun = 0;      // newest round id started
  uint64_t checkpoint_committed = 0;  // newest id committed here
  double capture_pause_ms = 0;        // the dense BeginCapture of the capture in flight
  // A checkpoint handed to the writer, for its log line once written.
  struct Round {
    uint64_t clock = 0;
    std::chrono::steady_clock::time_point ready;  // every block and table captured
    double pause_ms = 0;                          // serving thread's capture work
    std::shared_ptr<LiveCapture> blocks;          // for its copy-on-write figures
  };
  std::map<uint64_t, Round> rounds;  // by checkpoint id
};

namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// One line per checkpoint this PS wrote, with what it cost this PS (bench/
// large_suite.cc reads it): from the round's clock (every block captured)
// to durable, the serving thread's capture pause, the writer's time, and
// what training changed before the writer read it (copied on write).
void LogRound(const CheckpointWriter::Result& r, const ServerState::Round& round) {
  const LiveCapture::Stats cow = round.blocks->stats();
  PST_LOG_INFO(
      "checkpoint {} at clock {} durable {:.0f} ms after its clock: capture pause {:.1f} ms, "
      "write {:.0f} ms, copied on write {:.1f} MB ({} blocks, {:.1f} ms)",
      r.id, round.clock,
      std::chrono::duration<double, std::milli>(r.finished - round.ready).count(), round.pause_ms,
      r.duration_ms, cow.bytes_copied / 1e6, cow.units_copied, cow.copy_ms);
}

}  // namespace

Server::Server(zmq::context_t& ctx, ServerOptions options, BoundRouter bound)
    : ctx_(ctx),
      options_(std::move(options)),
      zap_(std::move(bound.zap)),
      socket_(std::move(bound.socket)),
      endpoint_(std::move(bound.endpoint)) {}

Server::~Server() = default;

StatusOr<std::unique_ptr<Server>> Server::Create(zmq::context_t& ctx,
                                                 const ServerOptions& options) {
  if (options.scheduler_endpoint.empty())
    return Status::InvalidArgument("--scheduler is required (e.g. tcp://127.0.0.1:7000)");
  if (options.sparse_max_chain == 0 || options.sparse_max_chain > kMaxSparseChain)
    return Status::InvalidArgument("server: sparse_max_chain must be in [1, " +
                                   std::to_string(kMaxSparseChain) + "]");
  if (options.poll_interval.count() <= 0 || options.drain_budget < 1)
    return Status::InvalidArgument("server: poll_interval and drain_budget must be positive");
  ServerOptions o = options;
  if (o.max_frame_bytes != 0) o.limits.max_floats_per_frame = o.max_frame_bytes / sizeof(float);
  PST_ASSIGN_OR_RETURN(BoundRouter bound,
                       BindRouter(ctx, o.bind_host, o.port, o.advertise_host, o.limits,
                                  o.curve.get()));
  return std::unique_ptr<Server>(new Server(ctx, std::move(o), std::move(bound)));
}

void Server::HandleRequest(InMessage& in) {
  ServerState& st = *state_;
  bool sparse = false;
  try {
    sparse = SparseHandler::Handles(in.envelope().getBody());
  } catch (const kj::Exception&) {
    // Malformed: the dense handler's decoding answers it.
  }
  if (!sparse) return st.handler->Handle(in);
  try {
    st.sparse->Handle(in, socket_, st.handler->generation());
  } catch (const kj::Exception& e) {
    OutMessage out;
    out.envelope().setRequestId(in.envelope().getRequestId());
    SetRpcStatus(
        Status::InvalidArgument(std::string("malformed request: ") + e.getDescription().cStr()),
        out.envelope().getBody().initError());
    Status sent = SendMessage(socket_, out, &in.identity());
    sent.IgnoreError();  // the sender may be gone
  }
}

Status Server::BuildShard(uint32_t generation, uint64_t checkpoint, uint64_t clock,
                          const std::vector<WorkerSlot>& workers) {
  ServerState& st = *state_;
  // Pulls of the old generation will never be answered with its values.
  st.handler->AbortPendingPulls(generation);
  std::vector<uint32_t> ranks;
  for (const WorkerSlot& w : workers) ranks.push_back(w.rank);
  const uint32_t initial = workers.empty() ? 0 : 1 + *std::max_element(ranks.begin(), ranks.end());
  PST_ASSIGN_OR_RETURN(std::vector<TableSpec> tables, JobTables(st.joined.job));
  PST_ASSIGN_OR_RETURN(auto shard, Shard::Create(tables, st.joined.job.train, st.range, initial,
                                                 options_.max_clocks_ahead));
  // A dense job has no slot map (and no sparse table: its handler refuses
  // every sparse request); any map with a shard per server does.
  PST_ASSIGN_OR_RETURN(const SlotMap slot_map,
                       st.joined.slot_map ? StatusOr<SlotMap>(*st.joined.slot_map)
                                          : SlotMap::Even(kDefaultSparseSlots,
                                                          uint32_t(st.joined.servers.size())));
  PST_ASSIGN_OR_RETURN(auto sparse,
                       SparseHandler::ForJob(tables, st.joined.job.train.consistency, initial, slot_map,
                                             st.joined.rank, st.sparse_limits));
  sparse->set_clients(&st.clients);
  if (st.sparse_chain == nullptr)
    st.sparse_chain = std::make_unique<SparseChain>(options_.sparse_max_chain);
  if (checkpoint != 0) {
    PST_RETURN_IF_ERROR(st.writer->Drain(options_.restore_drain_timeout));
    st.writer->Commit(checkpoint);  // idempotent: the scheduler recorded it complete
    PST_RETURN_IF_ERROR(st.writer->Drain(options_.restore_drain_timeout));
    for (const auto& r : st.writer->Poll()) {
      if (r.op == CheckpointWriter::Result::Op::kWrite) st.rounds.erase(r.id);
      if (!r.status.ok()) PST_LOG_WARN("checkpoint {}: {}", r.id, r.status.message());
    }
    auto read = st.writer->ReadCheckpoint(checkpoint);
    if (!read.ok())
      return read.status().WithContext("reading checkpoint " + std::to_string(checkpoint) +
                                       " of shard " + std::to_string(st.joined.rank));
    const CheckpointManifest& m = read->first;
    const Status same_job = CheckJobFingerprint(m.job_fingerprint, JobFingerprint(st.joined.job));
    if (!same_job.ok())
      return Status::FailedPrecondition("checkpoint " + std::to_string(checkpoint) + " in " +
                                        options_.state_dir + ": " + same_job.message());
    if (m.range != st.range)
      return Status::FailedPrecondition("checkpoint " + std::to_string(checkpoint) + " in " +
                                        options_.state_dir + " belongs to another shard (keys [" +
                                        std::to_string(m.range.begin) + ", " +
                                        std::to_string(m.range.end) + "))");
    if (m.clock != clock)
      return Status::DataLoss("checkpoint " + std::to_string(checkpoint) + " was taken at clock " +
                              std::to_string(m.clock) + ", the scheduler says " +
                              std::to_string(clock));
    PST_RETURN_IF_ERROR(shard->Restore(clock, read->second, m.slot_names, ranks));
    PST_ASSIGN_OR_RETURN(const uint64_t increment_rows, RestoreSparse(*sparse, m));
    st.sparse_chain->Restored(checkpoint, m.sparse_chain, increment_rows);
  } else if (clock != 0) {
    return Status::InvalidArgument("the initial model can only start at clock 0, not " +
                                   std::to_string(clock));
  } else {
    st.sparse_chain->Restored(0, 0, 0);
  }
  if (st.sparse != nullptr)
    st.sparse->AbortDeferred(socket_, StaleGeneration(st.handler->generation(), generation));
  st.sparse = std::move(sparse);
  st.shard = std::move(shard);
  st.handler->SetShard(st.shard.get(), generation);
  st.roster.clear();
  if (checkpoint != 0) {
    for (uint32_t r : ranks) st.roster[r] = clock;
  } else {
    // A fresh shard from Create has ranks [0, initial) active from clock 0;
    // bring it to exactly the roster.
    for (uint32_t r = 0; r < initial; ++r) st.roster[r] = 0;
  }
  // The sparse tables wait for the same ranks as the dense blocks.
  std::vector<uint32_t> on_roster;
  for (const auto& [rank, from] : st.roster) on_roster.push_back(rank);
  PST_RETURN_IF_ERROR(st.sparse->shard().ResetRoster(on_roster, checkpoint != 0 ? clock : 0));
  st.checkpoint_begun = 0;
  ApplyRoster(workers);
  PST_LOG_INFO("generation {}: {} at clock {}, {} workers", generation,
               checkpoint ? "restored checkpoint " + std::to_string(checkpoint)
                          : std::string("initial model"),
               clock, workers.size());
  return Status::OK();
}

StatusOr<uint64_t> Server::RestoreSparse(SparseHandler& sparse, const CheckpointManifest& m) {
  ServerState& st = *state_;
  if (m.sparse_tables.empty() && sparse.shard().table_names().empty()) return uint64_t{0};
  // Rows stored by the chain's increments (every piece after the full one's).
  uint64_t base = 0, increment_rows = 0;
  auto replay = [&](const SparseChainFn& apply) {
    return st.writer->ReadSparseChain(m.checkpoint_id, /*require_commit=*/true,
                                      [&](const SparseChainPiece& piece) {
                                        if (base == 0) base = piece.checkpoint_id;
                                        if (piece.checkpoint_id != base)
                                          increment_rows += piece.rows.ids.size();
                                        return apply(piece);
                                      });
  };
  Status s = sparse.shard().Restore(m.sparse_tables, replay);
  if (!s.ok())
    return s.WithContext("restoring the sparse tables of checkpoint " +
                         std::to_string(m.checkpoint_id) + " in " + options_.state_dir);
  uint64_t rows = 0, digest = 0;
  for (size_t i = 0; i < m.sparse_tables.size(); ++i) {
    rows += m.sparse_tables[i].rows;
    const SparseTable& t = *sparse.shard().FindTable(m.sparse_tables[i].name);
    const size_t stride = t.dim() + t.state_floats();
    t.ForEachRow([&](uint64_t id, const float* row, uint64_t) {
      digest += SparseRowDigest(i, id, row, stride);
    });
  }
  // The digest lets an operator (and the tests) check the restored rows
  // against the checkpoint's store (ps/sparse_digest.h).
  PST_LOG_INFO(
      "restored {} sparse rows of {} table(s) from checkpoint {} ({} increment(s)); rows digest "
      "{:016x}",
      rows, m.sparse_tables.size(), m.checkpoint_id, m.sparse_chain, digest);
  return increment_rows;
}

void Server::ApplyJobLimits(const NetworkSpec& job) {
  ServerState& st = *state_;
  auto pick = [](auto flag, auto from_job) { return flag != 0 ? flag : from_job; };
  ClientLimits limits;
  limits.max_clients = pick(options_.max_clients, job.max_clients);
  limits.max_in_flight_per_client =
      pick(options_.max_in_flight_per_client, job.max_in_flight_per_client);
  st.clients.set_limits(limits);
  st.sparse_limits.max_ids = pick(options_.max_ids_per_request, job.max_ids_per_request);
  options_.limits.max_floats_per_frame =
      pick(options_.max_frame_bytes, job.max_frame_bytes) / sizeof(float);
}

void Server::ApplyRoster(const std::vector<WorkerSlot>& workers) {
  ServerState& st = *state_;
  std::map<uint32_t, uint64_t> want;
  for (const WorkerSlot& w : workers) want[w.rank] = w.from_clock;
  for (auto it = st.roster.begin(); it != st.roster.end();) {
    auto w = want.find(it->first);
    if (w != want.end() && w->second == it->second) {
      ++it;
      continue;
    }
    auto done = st.shard->RemoveWorker(it->first);
    auto sparse_done = st.sparse->shard().RemoveWorker(it->first);
    // BSP: a clock counts as completed once both its sparse and its dense
    // pushes are in (a shard without dense blocks cannot tell from those).
    if (ConsistencyPolicy(st.joined.job.train).lockstep() && sparse_done.ok() &&
        !st.sparse->shard().table_names().empty())
      done = done.ok() && !st.range.empty() ? std::min(*done, *sparse_done) : *sparse_done;
    if (done.ok()) {
      MutexLock lock(&st.mu);
      st.report.removed[it->first] = *done;
      st.poke = true;
      PST_LOG_INFO("stopped waiting for worker {} ({} clocks completed)", it->first, *done);
    }
    it = st.roster.erase(it);
  }
  for (const auto& [rank, from] : want) {
    if (st.roster.count(rank)) continue;
    Status s = st.sparse->shard().CheckAddWorker(rank, from);
    if (s.ok()) s = st.shard->AddWorker(rank, from);
    if (s.ok()) s = st.sparse->shard().AddWorker(rank, from);  // checked above: cannot fail
    if (s.ok()) {
      st.roster[rank] = from;
      MutexLock lock(&st.mu);
      st.report.removed.erase(rank);
      st.poke = true;
      PST_LOG_INFO("waiting for worker {} from clock {}", rank, from);
    } else {
      // Too late for that clock: the scheduler sees the rank missing from our
      // report and picks a later one.
      PST_LOG_DEBUG("worker {} from clock {} not added: {}", rank, from, s.message());
    }
  }
}

void Server::WriteReadyCapture() {
  ServerState& st = *state_;
  Shard& shard = *st.shard;
  SparseShard& sparse = st.sparse->shard();
  const auto begin = std::chrono::steady_clock::now();
  // Under ASP/SSP the sparse tables are copied once the dense blocks are.
  if (shard.capture_ready() && !ConsistencyPolicy(st.joined.job.train).lockstep())
    sparse.CaptureRemaining();
  if (!shard.capture_ready() || !sparse.capture_ready()) return;
  auto cap = shard.TakeLiveCapture();
  auto sparse_cap = sparse.TakeCapture();
  if (!cap || !sparse_cap) return;
  CheckpointManifest m;
  m.checkpoint_id = cap->id;
  m.clock = cap->clock;
  m.job_fingerprint = JobFingerprint(st.joined.job);
  m.range = st.range;
  m.slot_names = cap->slot_names;
  m.num_blocks = cap->blocks->size();
  m.sparse_parent = st.sparse_next.parent;
  m.sparse_chain = st.sparse_next.chain;
  uint64_t stored = 0;
  for (const SparseTableManifest& t : sparse_cap->tables) stored += t.changed + t.removed;
  st.sparse_chain->Captured(cap->id, st.sparse_next, stored);
  m.sparse_tables = std::move(sparse_cap->tables);
  ServerState::Round& round = st.rounds[cap->id];
  round.clock = cap->clock;
  round.ready = std::chrono::steady_clock::now();
  // The serving thread's own capture work: marking the dense blocks at
  // BeginCapture, copying the sparse tables, taking the capture.
  round.pause_ms = st.capture_pause_ms + sparse_cap->copy_ms + MsSince(begin);
  round.blocks = cap->blocks;
  st.writer->Write(std::move(m), std::move(cap->blocks), std::move(sparse_cap->rows));
}

void Server::PollWriter() {
  ServerState& st = *state_;
  for (const auto& r : st.writer->Poll()) {
    if (r.op != CheckpointWriter::Result::Op::kWrite) {
      if (!r.status.ok()) PST_LOG_WARN("checkpoint {}: {}", r.id, r.status.message());
      continue;
    }
    auto round = st.rounds.extract(r.id);
    MutexLock lock(&st.mu);
    st.poke = true;
    if (r.status.ok()) {
      st.report.checkpoint_written = std::max(st.report.checkpoint_written, r.id);
      if (!round.empty()) LogRound(r, round.mapped());
    } else {
      st.sparse_chain->Lost(r.id);
      st.report.checkpoint_failed = std::max(st.report.checkpoint_failed, r.id);
      st.report.checkpoint_error = r.status.message();
      PST_LOG_ERROR("checkpoint {} not written: {}", r.id, r.status.message());
    }
  }
}

void Server::Converge() {
  ServerState& st = *state_;
  ServerState::Directive d;
  {
    MutexLock lock(&st.mu);
    d = st.directive;
  }
  if (!d.has_workers) return;
  if (d.generation > st.handler->generation()) {
    Status s = BuildShard(d.generation, d.restore_checkpoint, d.resume_clock, d.workers);
    MutexLock lock(&st.mu);
    st.poke = true;
    if (!s.ok()) {
      PST_LOG_ERROR("cannot restore generation {}: {}", d.generation, s.message());
      st.report.restore_error = s.message();
      return;
    }
    st.report.restore_error.clear();
  } else if (d.generation < st.handler->generation()) {
    return;  // an answer from before our restore
  } else {
    ApplyRoster(d.workers);
  }
  Shard& shard = *st.shard;
  // Checkpoint rounds: capture at the clock boundary, write on the writer
  // thread, commit once the scheduler has recorded the checkpoint complete.
  SparseShard& sparse = st.sparse->shard();
  if (d.checkpoint_id > st.checkpoint_begun && d.checkpoint_clock > 0) {
    st.checkpoint_begun = d.checkpoint_id;
    const auto begin = std::chrono::steady_clock::now();
    Status s = shard.BeginCapture(d.checkpoint_id, d.checkpoint_clock);
    st.capture_pause_ms = MsSince(begin);
    if (s.ok()) {
      uint64_t changed = 0, live = 0;
      for (const std::string& name : sparse.table_names()) {
        const SparseTableStats ts = sparse.FindTable(name)->stats();
        changed += ts.changed_rows + ts.removed_rows;
        live += ts.rows;
      }
      if (sparse.CancelCapture()) st.sparse_chain->Lost();
      st.sparse_next = st.sparse_chain->Plan(changed, live);
      s = sparse.BeginCapture(d.checkpoint_id, d.checkpoint_clock, st.sparse_next.full,
                              /*live=*/true);
      if (!s.ok()) shard.CancelCapture();
    }
    if (!s.ok()) {
      PST_LOG_INFO("checkpoint {} at clock {} missed: {}", d.checkpoint_id, d.checkpoint_clock,
                   s.message());
      MutexLock lock(&st.mu);
      st.poke = true;
      st.report.checkpoint_failed = d.checkpoint_id;
      st.report.checkpoint_error = s.message();
    }
  }
  WriteReadyCapture();
  PollWriter();
  if (d.committed > st.checkpoint_committed) {
    st.checkpoint_committed = d.committed;
    st.writer->Commit(d.committed);
    st.writer->Prune(st.joined.job.checkpoint.keep);
  }
  MutexLock lock(&st.mu);
  st.report.refusals = st.clients.refusals();
  if (zap_) {
    st.report.refusals.client_key = zap_->refused();
    st.report.refusals.handshake = zap_->failed_handshakes();
  }
  st.report.generation = st.handler->generation();
  // Heartbeats carry a clock comparable to the workers' (placing checkpoint
  // rounds and joining workers): under ASP/SSP a version counts every
  // worker's pushes and runs far ahead of any worker's clock.
  st.report.clock = shard.applied_clock();
  st.report.max_staleness = st.handler->max_staleness();
  st.report.sparse_tables.clear();
  for (const std::string& name : sparse.table_names()) {
    const SparseTableStats t = sparse.FindTable(name)->stats();
    st.report.sparse_tables.push_back({name, t.rows, t.bytes, t.raw_bytes_per_row, t.admitted,
                                       t.evicted, t.unadmitted_updates, t.changed_rows});
  }
  st.report.workers.clear();
  for (const auto& [rank, from] : st.roster) st.report.workers.push_back({rank, from});
}

Status Server::Run() {
  auto sched_or = Channel::Connect(ctx_, options_.scheduler_endpoint, {}, options_.curve.get());
  if (!sched_or.ok()) return sched_or.status();
  std::unique_ptr<Channel> sched = std::move(sched_or).value();

  // The store opens first: a locked or corrupt state directory is reported
  // before this PS joins anything.
  std::unique_ptr<ParamStore> store;
  if (options_.state_dir.empty()) {
    store = std::make_unique<MemoryParamStore>();
  } else {
    RocksDbParamStoreOptions so;
    so.path = options_.state_dir;
    PST_ASSIGN_OR_RETURN(auto db, RocksDbParamStore::Open(so));
    store = std::move(db);
  }
  state_ = std::make_unique<ServerState>();
  ServerState& st = *state_;
  st.handler = std::make_unique<RequestHandler>(socket_, &st.clients);
  PST_ASSIGN_OR_RETURN(st.writer, CheckpointWriter::Start(std::move(store)));

  auto on_reply = [&st](proto::HeartbeatResponse::Reader resp) {
    ServerState::Directive d;
    d.generation = resp.getGeneration();
    d.restore_checkpoint = resp.getRestoreCheckpoint();
    d.resume_clock = resp.getResumeClock();
    d.checkpoint_id = resp.getCheckpointId();
    d.checkpoint_clock = resp.getCheckpointClock();
    d.committed = resp.getCommittedCheckpoint();
    d.workers = DecodeWorkerSlots(resp.getWorkers());
    // Before the job starts the scheduler has no roster yet; JobStart brings it.
    d.has_workers = resp.getState() == proto::JobState::RUNNING ||
                    resp.getState() == proto::JobState::RECOVERING;
    if (!d.has_workers) return;
    d.seq = resp.getDirectiveSeq();
    MutexLock lock(&st.mu);
    // Heartbeat answers and pushed directives may arrive out of order. A
    // restarted scheduler counts seq from 0 again, but always in a new generation.
    if (d.generation < st.directive.generation ||
        (d.generation == st.directive.generation && d.seq < st.directive.seq))
      return;
    st.directive = std::move(d);
  };
  std::atomic<uint32_t> rank{0};
  std::unique_ptr<Heartbeater> heartbeat;
  Status hb_status;
  JoinOptions join;
  join.role = proto::Role::SERVER;
  join.endpoint = endpoint_;
  join.shard_id = options_.shard_id;
  join.connect_timeout = options_.connect_timeout;
  join.form_timeout = options_.form_timeout;
  auto joined = JoinJob(*sched, join, &stop_, [&](const JoinedJob& j) {
    rank = j.rank;
    SetLogNodeName("ps " + std::to_string(j.rank));
    PST_LOG_INFO("registered as PS {} serving {}{}", j.rank, endpoint_,
                 options_.state_dir.empty() ? " (no --state-dir: checkpoints in memory only)"
                                            : ", state in " + options_.state_dir);
    HeartbeaterOptions ho;
    ho.scheduler_endpoint = options_.scheduler_endpoint;
    ho.curve = options_.curve;
    ho.interval = j.heartbeat_interval;
    auto fill = [&st, &rank](proto::HeartbeatRequest::Builder b) {
      b.setRole(proto::Role::SERVER);
      b.setRank(rank.load());
      // A copy (clang's analysis cannot follow a reference to a guarded member
      // inside a lambda), so the lock is not held while the message is built.
      const ServerState::Report r = [&st] {
        MutexLock lock(&st.mu);
        return st.report;
      }();
      b.setClock(r.clock);
      b.setMaxStaleness(r.max_staleness);
      b.setGeneration(r.generation);
      b.setCheckpointWritten(r.checkpoint_written);
      b.setCheckpointFailed(r.checkpoint_failed);
      b.setCheckpointError(r.checkpoint_error);
      b.setRestoreError(r.restore_error);
      LimitRefusalsToProto(r.refusals, b.initLimitRefusals());
      auto w = b.initWorkers(r.workers.size());
      for (size_t i = 0; i < r.workers.size(); ++i) {
        w[i].setRank(r.workers[i].rank);
        w[i].setFromClock(r.workers[i].from_clock);
      }
      ToProto(r.sparse_tables, b.initSparseTables(r.sparse_tables.size()));
      auto rm = b.initRemoved(r.removed.size());
      size_t i = 0;
      for (const auto& [wr, done] : r.removed) {
        rm[i].setRank(wr);
        rm[i++].setCompletedClocks(done);
      }
    };
    auto hb = Heartbeater::Start(ctx_, ho, fill, on_reply);
    if (hb.ok())
      heartbeat = std::move(hb).value();
    else
      hb_status = hb.status();
  });
  if (joined.status().code() == StatusCode::kCancelled) return Status::OK();
  if (!joined.ok()) return joined.status();
  PST_RETURN_IF_ERROR(hb_status);

  st.joined = std::move(joined).value();
  if (st.joined.rank >= st.joined.servers.size())
    return Status::InvalidArgument("scheduler gave rank outside the server list");
  st.range = st.joined.servers[st.joined.rank].range;
  ApplyJobLimits(st.joined.job.network);
  PST_RETURN_IF_ERROR(BuildShard(st.joined.generation, st.joined.restore_checkpoint,
                                 st.joined.resume_clock, st.joined.workers)
                          .WithContext("starting shard " + std::to_string(st.joined.rank)));
  {
    MutexLock lock(&st.mu);
    st.report.generation = st.handler->generation();
  }
  PST_LOG_INFO("job started: keys [{}, {}) of the model, {} workers", st.range.begin, st.range.end,
               st.joined.workers.size());

  Status result;
  while (!stop_) {
    PST_RETURN_IF_ERROR(WaitReadable(socket_, options_.poll_interval));
    // Drain everything waiting before answering deferred pulls, so one
    // version bump answers them all.
    for (int budget = 0; budget < options_.drain_budget; ++budget) {
      InMessage in;
      Status s = RecvMessage(socket_, /*routed=*/true, options_.limits, &in);
      if (s.code() == StatusCode::kUnavailable) break;
      if (in.identity().size() > 0) {
        Status admitted = st.clients.Admit(in.identity(), std::chrono::steady_clock::now());
        if (!admitted.ok()) s = admitted;
        else if (s.code() == StatusCode::kResourceExhausted) st.clients.CountFrameRefusal();
      }
      if (!s.ok()) {
        st.refused_log.Log(s);
        if (in.identity().size() > 0) {
          OutMessage out;
          if (in.has_envelope()) out.envelope().setRequestId(in.envelope().getRequestId());
          SetRpcStatus(s, out.envelope().getBody().initError());
          Status sent = SendMessage(socket_, out, &in.identity());
          sent.IgnoreError();  // the sender may be gone
        }
        continue;
      }
      HandleRequest(in);
    }
    // The scheduler also sends its directive at once when it changes (a
    // checkpoint round, a rollback), so rounds need not wait for a heartbeat.
    sched->Pump();
    for (InMessage m; sched->PopUnsolicited(&m);) {
      try {
        if (m.envelope().getBody().isHeartbeatResponse())
          on_reply(m.envelope().getBody().getHeartbeatResponse());
      } catch (const kj::Exception& e) {
        PST_LOG_WARN("malformed directive from the scheduler: {}", e.getDescription().cStr());
      }
    }
    Converge();
    {
      MutexLock lock(&st.mu);
      if (st.poke) heartbeat->Poke();
      st.poke = false;
    }
    st.handler->AnswerReadyPulls();  // roster changes (a worker left) can unblock pulls too
    if (st.sparse) st.sparse->AnswerReadyPulls(socket_);
    const auto job_state = heartbeat->job_state();
    if (job_state == proto::JobState::DONE) {
      PST_LOG_INFO("job done at model version {}; largest staleness served: {}; exiting",
                   st.shard->version(), st.handler->max_staleness());
      break;
    }
    if (job_state == proto::JobState::FAILED) {
      result = Status::Aborted("the scheduler reports the job failed; see the scheduler log");
      break;
    }
    if (heartbeat->lost_contact()) {
      result =
          Status::Unavailable("lost contact with the scheduler at " + options_.scheduler_endpoint);
      break;
    }
  }
  // Whatever was queued for disk (a checkpoint write, a commit) is finished
  // before exiting, so a graceful stop never leaves a torn round behind.
  Status drained = st.writer->Drain(options_.exit_drain_timeout);
  if (!drained.ok()) PST_LOG_WARN("checkpoint writer: {}", drained.message());
  OutMessage leave;
  auto lr = leave.envelope().getBody().initLeaveRequest();
  lr.setRole(proto::Role::SERVER);
  lr.setRank(st.joined.rank);
  auto bye = sched->Call(leave, options_.leave_timeout);
  bye.status().IgnoreError();  // leaving is best effort: heartbeats time out otherwise
  return result;
}

}  // namespace pst
