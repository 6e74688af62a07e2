// Options for the scheduler (pst::Scheduler).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/cluster_keys.h"
#include "common/job_spec.h"
#include "common/wire.h"
#include "scheduler/checkpoint_coordinator.h"

namespace pst {

struct SchedulerOptions {
  // The job to run: model, optimizer, schedule and cluster size.
  JobSpec job;
  // Interface to bind: an IP, or "0.0.0.0" for all. Default: 127.0.0.1.
  std::string bind_host = "127.0.0.1";
  // TCP port; 0 picks a free one. Default: 0.
  uint16_t port = 0;
  // Host name or IP that nodes use to reach the scheduler. Default: bind_host.
  std::string advertise_host;
  // Heartbeat period nodes are told to use. Default: 500 ms.
  std::chrono::milliseconds heartbeat_interval{500};
  // A node silent for this long is dead. Default: 10 s.
  std::chrono::milliseconds heartbeat_timeout{10000};
  // Every PS and worker must register within this. Default: 120 s.
  std::chrono::milliseconds form_timeout{120000};
  // After the job ends, how long to wait for nodes to leave. Default: 10 s.
  std::chrono::milliseconds linger{10000};
  // Directory of the scheduler's RocksDB job store (job, members, leases,
  // progress, complete checkpoints). "" keeps nothing: the job cannot survive
  // a scheduler restart nor be resumed. Default: "".
  std::string state_dir;
  // With a state_dir holding a job: true resumes it after every process was
  // stopped (new PS and workers register, PS restore the last complete
  // checkpoint); false takes over a running job after a scheduler crash (the
  // same PS and workers reconnect, and the job rolls back to the last complete
  // checkpoint). Default: false.
  bool resume = false;
  // How long the job may wait for a replacement of a dead PS, or for any
  // worker when none is left (say, the evaluation of the last epoch lost its
  // worker after the others had finished), before it fails. Default: 120 s.
  std::chrono::milliseconds recovery_timeout{120000};
  // How long a checkpoint round may take before it is abandoned and tried
  // again (derived per round from the pace and the model's size; see
  // scheduler/checkpoint_coordinator.h).
  CheckpointWaitOptions checkpoint_wait;
  // Size limits for received messages.
  WireLimits limits;
  // The cluster's keys: every socket uses CurveZMQ with them (see
  // common/cluster_keys.h). Null: plain TCP. Default: null.
  std::shared_ptr<const ClusterKeys> curve;
  // Interface the HTTP admin endpoint (dashboard at /, /status, /metrics,
  // /healthz) binds: an IP, or "0.0.0.0" for all. It has no authentication,
  // so think twice before exposing it. Default: 127.0.0.1.
  std::string admin_bind = "127.0.0.1";
  // TCP port of the admin endpoint: 0 picks a free one, -1 disables the
  // endpoint. Default: 0.
  int32_t admin_port = 0;

  // A new PS naming the shard of a PS not yet declared dead is accepted only
  // if the old one no longer answers at its endpoint within this (the
  // scheduler's loop waits that long at most). Default: 500 ms.
  std::chrono::milliseconds replacement_probe_timeout{500};

  // The scheduler loop's timings. The defaults suit every job we know of;
  // tests shorten some.
  // How long Run() waits for a message before its periodic work (heartbeat
  // checks, checkpoint rounds, directives), and how late that work may run
  // while only workers' heartbeats that move no clock arrive. Default: 20 ms.
  std::chrono::milliseconds loop_wait{20};
  // A worker's heartbeat is answered only when the answer would tell it
  // something new (the job is not running, the worker is behind the job's
  // generation, or asked to leave, or the answer differs from its last one) or
  // when its last answer is this old: an answer costs the scheduler more than
  // the heartbeat itself. Its Heartbeater counts the scheduler lost after 30 s
  // without one (common/heartbeat.h), so keep this well below that: at most
  // this plus one heartbeat interval (at most heartbeat_timeout / 4) passes
  // between two answers. 0 answers every heartbeat. PS heartbeats are always
  // answered (they carry the directive). Default: 10 s (at most 12.5 s
  // between two answers at the default heartbeat_timeout).
  std::chrono::milliseconds heartbeat_answer_interval{10000};
  // Most heartbeats per second the scheduler asks for: with more nodes than
  // this many per heartbeat_interval, the interval it tells nodes (at
  // registration and in heartbeat answers) grows to nodes / this, at most
  // heartbeat_timeout / 4, so a thousand-worker job costs the scheduler no
  // more than a 250-node one while a silent node is still found dead after
  // heartbeat_timeout. 0 keeps heartbeat_interval whatever the job's size.
  // Default: 500.
  uint32_t max_heartbeats_per_second = 500;
  // The periodic work runs at most this often (after every message it would
  // cost more than the messages with a thousand nodes), and this long after a
  // message that may need it (any but a worker's heartbeat that moves no
  // clock); else at least every loop_wait. Default: 5 ms.
  std::chrono::milliseconds tick_interval{5};
  // The periodic work that walks every node but need not be prompt (heartbeat
  // timeouts, worker admission and removal) runs at most
  // this often, and at least every heartbeat_interval. Default: 50 ms.
  std::chrono::milliseconds sweep_interval{50};
  // Most messages handled in one loop turn before the periodic work. Default: 4096.
  uint32_t messages_per_turn = 4096;
  // How often a running job's state is saved to the store (and at every
  // change that must survive a crash). Default: 2 s.
  std::chrono::milliseconds save_interval{2000};
  // One point of the admin endpoint's live training curve per this. Default: 1 s.
  std::chrono::milliseconds history_interval{1000};
  // The pace (clocks per second) is measured over windows of this. Default: 250 ms.
  std::chrono::milliseconds pace_window{250};
  // How long a checkpoint round takes to reach the PS (with the pushed
  // directive, within a PS loop turn); rounds are placed that far ahead of
  // the fastest clock, times three. Default: 30 ms.
  std::chrono::milliseconds directive_latency{30};
  // `pstrain checkpoint` waits this long when it gives no timeout. Default: 60 s.
  std::chrono::milliseconds checkpoint_request_timeout{60000};
  // After the job ended and every node left, the scheduler stays this long
  // so clients can read the final status (at most `linger` in all). Default: 1.5 s.
  std::chrono::milliseconds end_grace{1500};
};

}  // namespace pst
