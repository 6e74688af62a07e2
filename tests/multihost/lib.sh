# Shared by the multi-host tests (sourced, not run): a lab of network-namespace
# hosts (deploy/netns/netns.sh), roles started on them with the per-role flags
# the README documents, and checks. Every test calls mh_init first; its EXIT trap
# removes the lab (killing whatever still runs in it) and the work directory,
# whatever way the test ends.
#
# Environment: PST_BIN_DIR (built binaries) and PST_SOURCE_DIR, set by ctest.

set -euo pipefail

PST_BIN_DIR=${PST_BIN_DIR:?set PST_BIN_DIR to build/bin}
PST_SOURCE_DIR=${PST_SOURCE_DIR:?set PST_SOURCE_DIR to the repository root}
NETNS="$PST_SOURCE_DIR/deploy/netns/netns.sh"
MH_LAB=""
MH_WORK=""
MH_EXTRA_CLEANUP=()

mh_log() { echo "[$(date +%H:%M:%S.%N | cut -c1-12)] $*"; }
mh_fail() {
  echo "FAIL: $*" >&2
  for f in "$MH_WORK"/*.log; do
    [ -f "$f" ] || continue
    echo "---- $(basename "$f") (last 15 lines)" >&2
    tail -n 15 "$f" >&2
  done
  exit 1
}

mh_cleanup() {
  local rc=$?
  local c
  for c in "${MH_EXTRA_CLEANUP[@]}"; do eval "$c" || true; done
  # Bash reports each killed background role; the redirection keeps that quiet.
  { [ -n "$MH_LAB" ] && "$NETNS" down "$MH_LAB" || true; wait || true; } 2>/dev/null
  [ -n "$MH_WORK" ] && rm -rf "$MH_WORK"
  exit $rc
}

# mh_init_work: the work directory and the cleanup trap only (for loopback tests).
mh_init_work() {
  MH_WORK=$(mktemp -d /tmp/pstrain-multihost.XXXXXX)
  trap mh_cleanup EXIT
  trap 'exit 130' INT TERM
}

# mh_init LAB PREFIX HOSTS: a lab of HOSTS hosts at PREFIX.11, PREFIX.12, ...
mh_init() {
  "$NETNS" down "$1"  # a previous run killed before its trap ran
  mh_init_work
  MH_LAB=$1
  "$NETNS" up "$MH_LAB" "$2" "$3"
}

mh_ip() { "$NETNS" ip "$MH_LAB" "$1"; }

# mh_on HOST NAME CMD...: runs CMD on HOST in the background, output to
# $MH_WORK/NAME.log; sets MH_PID to its pid.
mh_on() {
  local host=$1 name=$2
  shift 2
  "$NETNS" exec "$MH_LAB" "$host" "$@" >"$MH_WORK/$name.log" 2>&1 &
  MH_PID=$!
}

# mh_start_ps K HOST: PS shard K on HOST, advertising HOST's address, its store in the
# shared directory (so a replacement on another host restores the shard). Sets MH_PID.
mh_start_ps() {
  mh_on "$2" "ps-$1${3:-}" "$PST_BIN_DIR/pstrain-ps" --scheduler "tcp://$(mh_ip 1):7000" --bind 0.0.0.0 \
    --advertise "$(mh_ip "$2")" --shard-id "$1" --state-dir "$MH_WORK/shared/ps-$1"
}

# mh_start_cluster JOB [WORKER FLAG...]: the README's five-host layout: the scheduler on
# host 1 (port 7000, admin 8080, state in $MH_WORK/shared), PS K on host 2+K, worker R on host
# 4+R. Sets MH_PIDS and MH_NAMES (scheduler, ps-0, ps-1, worker-0, worker-1).
mh_start_cluster() {
  local job=$1 sched
  shift
  sched=$(mh_ip 1)
  mkdir -p "$MH_WORK/shared"
  mh_on 1 scheduler "$PST_BIN_DIR/pstrain-scheduler" --job "$job" --bind "$sched" --port 7000 \
    --admin-bind "$sched" --admin-port 8080 --state-dir "$MH_WORK/shared/scheduler"
  MH_PIDS=($MH_PID)
  MH_NAMES=(scheduler ps-0 ps-1 worker-0 worker-1)
  local k r
  for k in 0 1; do
    mh_start_ps $k $((2 + k))
    MH_PIDS+=($MH_PID)
  done
  for r in 0 1; do
    mh_on $((4 + r)) worker-$r "$PST_BIN_DIR/pstrain-worker" --scheduler "tcp://$sched:7000" "$@"
    MH_PIDS+=($MH_PID)
  done
}

# mh_wait_cluster SECONDS: waits for every role of MH_PIDS to exit; fails on a non-zero exit.
mh_wait_cluster() {
  local i rc
  for i in "${!MH_PIDS[@]}"; do
    rc=0
    mh_wait_pid "${MH_PIDS[$i]}" "$1" || rc=$?
    [ $rc -eq 0 ] || mh_fail "${MH_NAMES[$i]} exited with $rc"
  done
}

# mh_status: the scheduler's /status (JSON), from outside the hosts.
mh_status() { curl -s --max-time 2 "http://$(mh_ip 1):8080/status" || true; }

# mh_job FILE [HEARTBEAT_TIMEOUT_MS]: a short job (1 epoch over 12,800 samples, 2 PS + 2
# workers, 200 ms heartbeats, a node dead after 2 s of silence unless given) written to FILE.
mh_job() {
  cat >"$1" <<TOML
[train]
epochs = 1
train_limit = 12800
test_limit = 2000
[cluster]
servers = 2
workers = 2
[network]
heartbeat_ms = 200
heartbeat_timeout_ms = ${2:-2000}
[checkpoint]
every_steps = 20
TOML
}

# mh_wait_file PATH SECONDS: waits for PATH to exist.
mh_wait_file() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

# mh_wait_line FILE PATTERN SECONDS: waits for a line matching PATTERN (grep) in FILE.
mh_wait_line() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# mh_kill9 PID: kill -9, reaped quietly.
mh_kill9() { { kill -9 "$1"; wait "$1"; } 2>/dev/null || true; }

# mh_wait_pid PID SECONDS: waits for PID to exit; returns its exit code
# (124 if it still runs after SECONDS, and then kills it).
mh_wait_pid() {
  local pid=$1 i
  for ((i = 0; i < $2 * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" && return 0 || return $?
    fi
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  return 124
}

# mh_accuracy LOG: the last "epoch N test accuracy X" the scheduler logged.
mh_accuracy() {
  { grep -o 'test accuracy [0-9.]*' "$1" || true; } | tail -n 1 | awk '{print $3}'
}

# mh_local_accuracy JOB: the same job's accuracy from `pstrain local` (one
# process, the same BSP schedule): what a multi-host run must reproduce.
mh_local_accuracy() {
  { "$PST_BIN_DIR/pstrain" local --job "$1" 2>&1 || true; } | grep -o 'final test accuracy: [0-9.]*' |
    awk '{print $4}' || true
}

# mh_check_accuracy LOG JOB TOL WHAT: the last accuracy the scheduler logged in LOG is within
# TOL of what `pstrain local` gets for JOB; logs both (WHAT names the run) and sets MH_ACC.
mh_check_accuracy() {
  local ref
  MH_ACC=$(mh_accuracy "$1")
  ref=$(mh_local_accuracy "$2")
  mh_log "$4: accuracy $MH_ACC, pstrain local (fault-free) $ref"
  [ -n "$MH_ACC" ] && [ -n "$ref" ] || mh_fail "no accuracy ($4 '$MH_ACC', local '$ref')"
  mh_close "$MH_ACC" "$ref" "$3" || mh_fail "$4: accuracy $MH_ACC is more than $3 from pstrain local's $ref"
}

# mh_start_long_cluster LAB PREFIX HOSTS: a lab and the five-host cluster on it, running
# 2 epochs with workers sleeping 10 ms per step (so that a fault lands mid-job); returns once
# the first checkpoint is complete.
mh_start_long_cluster() {
  mh_init "$@"
  mh_job "$MH_WORK/job.toml"
  sed -i 's/^epochs = 1/epochs = 2/' "$MH_WORK/job.toml"
  mh_start_cluster "$MH_WORK/job.toml" --step-delay-ms 10
  mh_wait_line "$MH_WORK/scheduler.log" 'checkpoint 1 complete' 60 || mh_fail "no checkpoint completed"
  grep -q 'job done' "$MH_WORK/scheduler.log" && mh_fail "the job ended before the fault" || true
}

# mh_close A B TOL: succeeds if |A - B| <= TOL.
mh_close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
