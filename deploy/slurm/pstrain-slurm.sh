#!/usr/bin/env bash
# pstrain under Slurm. `pstrain.sbatch` (beside this file) runs `pstrain-slurm.sh run` on the
# first node of the allocation; every task that srun starts runs `pstrain-slurm.sh role ...`.
#
#   pstrain-slurm.sh run               the batch part: scheduler on the first node, one srun step
#                                      per PS shard (restarted on the next node if it dies), the
#                                      workers spread over the allocation by srun
#   pstrain-slurm.sh role scheduler    run the scheduler on this node
#   pstrain-slurm.sh role ps K         run PS shard K on this node (state in $PSTRAIN_RUN_DIR/state/ps-K)
#   pstrain-slurm.sh role worker       run a worker; to add workers to a running job:
#                                        srun --jobid=JOBID --overlap --ntasks=2 deploy/slurm/pstrain-slurm.sh role worker
#
# Every role finds the scheduler from Slurm's environment: it runs on the first node of
# SLURM_JOB_NODELIST, at that node's NodeAddr (`scontrol show node`), port PSTRAIN_PORT.
# Settings (environment):
#   PSTRAIN_RUN_DIR        required: a directory on storage every node shares; holds the job
#                          file copy, state/scheduler, state/ps-K (so a PS restarted on another
#                          node restores its shard) and logs/
#   PSTRAIN_JOB            job file (TOML); default: the default job
#   PSTRAIN_HOME           the pstrain checkout (default: the one holding this script)
#   PSTRAIN_BIN            the binaries (default: $PSTRAIN_HOME/build/bin)
#   PSTRAIN_PORT           the scheduler's TCP port (default 7000)
#   PSTRAIN_SCHEDULER_HOST the scheduler's address, if the first node's NodeAddr is not reachable
#   PSTRAIN_PS_RESTARTS    how often a dead PS shard is restarted (default 3)
#   PSTRAIN_SCHEDULER_ARGS, PSTRAIN_PS_ARGS, PSTRAIN_WORKER_ARGS
#                          extra flags for each role (e.g. PSTRAIN_WORKER_ARGS="--blas-threads 4")
# Bad settings: one line naming the variable and what to set, exit code 2, nothing started.
set -euo pipefail

die() { echo "pstrain-slurm: error: $*" >&2; exit 2; }
log() { echo "pstrain-slurm: $*" >&2; }

require_slurm() {
  local v
  for v in SLURM_JOB_ID SLURM_JOB_NODELIST; do
    [ -n "${!v:-}" ] || die "$v is not set: run this inside a Slurm job (sbatch deploy/slurm/pstrain.sbatch, or srun --jobid=JOBID ... for a running one)"
  done
  [[ "$SLURM_JOB_ID" =~ ^[0-9]+$ ]] || die "SLURM_JOB_ID='$SLURM_JOB_ID' is not a job id: run this inside a Slurm job"
  command -v scontrol >/dev/null || die "scontrol is not on PATH: put Slurm's client commands on PATH"
  NODES=($(scontrol show hostnames "$SLURM_JOB_NODELIST" 2>/dev/null)) || true
  local n bad=$((${#NODES[@]} == 0))
  for n in "${NODES[@]}"; do [[ "$n" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || bad=1; done
  [ $bad -eq 0 ] ||
    die "SLURM_JOB_NODELIST='$SLURM_JOB_NODELIST' is not a node list scontrol can expand: run this inside a Slurm job"
}

# The address of Slurm node $1: its NodeAddr (its name if Slurm has none).
node_addr() {
  local addr
  addr=$(scontrol show node -o "$1" 2>/dev/null | grep -o 'NodeAddr=[^ ]*' | cut -d= -f2) || true
  echo "${addr:-$1}"
}

# Checks that host $1 resolves; $2 names where it came from.
require_resolves() {
  [[ "$1" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] && return 0
  getent hosts "$1" >/dev/null ||
    die "scheduler host '$1' ($2) does not resolve: set PSTRAIN_SCHEDULER_HOST to an address every node can reach"
}

settings() {
  PSTRAIN_HOME=${PSTRAIN_HOME:-$(cd "$(dirname "$0")/../.." && pwd)}
  PSTRAIN_BIN=${PSTRAIN_BIN:-$PSTRAIN_HOME/build/bin}
  local b
  for b in pstrain-scheduler pstrain-ps pstrain-worker; do
    [ -x "$PSTRAIN_BIN/$b" ] || die "$PSTRAIN_BIN/$b is missing: set PSTRAIN_BIN to the directory of the built binaries (or PSTRAIN_HOME to the checkout)"
  done
  PSTRAIN_PORT=${PSTRAIN_PORT:-7000}
  [[ "$PSTRAIN_PORT" =~ ^[0-9]+$ ]] && [ "$PSTRAIN_PORT" -ge 1 ] && [ "$PSTRAIN_PORT" -le 65535 ] ||
    die "PSTRAIN_PORT='$PSTRAIN_PORT' is not a TCP port: set it to a free port in 1-65535"
  [ -n "${PSTRAIN_RUN_DIR:-}" ] || die "PSTRAIN_RUN_DIR is not set: set it to a directory on storage every node shares"
  [[ "$PSTRAIN_RUN_DIR" == /* ]] || die "PSTRAIN_RUN_DIR='$PSTRAIN_RUN_DIR' is not an absolute path: set it to a shared directory's absolute path"
  mkdir -p "$PSTRAIN_RUN_DIR/state" "$PSTRAIN_RUN_DIR/logs" 2>/dev/null &&
    touch "$PSTRAIN_RUN_DIR/state/.writable-$$" 2>/dev/null ||
    die "PSTRAIN_RUN_DIR='$PSTRAIN_RUN_DIR' is not writable on $(hostname): set it to a directory on shared storage every node can write"
  rm -f "$PSTRAIN_RUN_DIR/state/.writable-$$"
  SCHED_HOST=${PSTRAIN_SCHEDULER_HOST:-$(node_addr "${NODES[0]}")}
  if [ -n "${PSTRAIN_SCHEDULER_HOST:-}" ]; then
    require_resolves "$SCHED_HOST" "PSTRAIN_SCHEDULER_HOST"
  else
    require_resolves "$SCHED_HOST" "NodeAddr of ${NODES[0]}, the first node of SLURM_JOB_NODELIST"
  fi
  SCHEDULER="tcp://$SCHED_HOST:$PSTRAIN_PORT"
  JOB_FILE="$PSTRAIN_RUN_DIR/job.toml"
}

# The job's cluster.KEY from the job file (default $2).
job_count() {
  local v
  v=$(awk -v key="$1" '
    /^[[:space:]]*\[/ { in_cluster = ($0 ~ /^[[:space:]]*\[cluster\][[:space:]]*(#.*)?$/) }
    in_cluster && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*(#.*)?$/, ""); print }
  ' "$JOB_FILE")
  echo "${v:-$2}"
}

role() {
  require_slurm
  settings
  [ -f "$JOB_FILE" ] || die "$JOB_FILE is missing: start roles through pstrain.sbatch, which writes it (or check that PSTRAIN_RUN_DIR is the job's)"
  local me=${SLURMD_NODENAME:-$(hostname)}
  case "${1:-}" in
    scheduler)
      exec "$PSTRAIN_BIN/pstrain-scheduler" --job "$JOB_FILE" --bind 0.0.0.0 --advertise "$SCHED_HOST" \
        --port "$PSTRAIN_PORT" --admin-bind 0.0.0.0 --state-dir "$PSTRAIN_RUN_DIR/state/scheduler" \
        --endpoint-file "$PSTRAIN_RUN_DIR/scheduler.endpoint" ${PSTRAIN_SCHEDULER_ARGS:-} ;;
    ps)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || die "role ps needs a shard id (pstrain-slurm.sh role ps K)"
      local state="$PSTRAIN_RUN_DIR/state/ps-$2"
      mkdir -p "$state" 2>/dev/null && touch "$state/.writable-$$" 2>/dev/null ||
        die "PS $2's state directory $state is not writable on $me: set PSTRAIN_RUN_DIR to shared storage every node can write"
      rm -f "$state/.writable-$$"
      exec "$PSTRAIN_BIN/pstrain-ps" --scheduler "$SCHEDULER" --bind 0.0.0.0 --advertise "$(node_addr "$me")" \
        --shard-id "$2" --state-dir "$state" ${PSTRAIN_PS_ARGS:-} ;;
    worker)
      exec "$PSTRAIN_BIN/pstrain-worker" --scheduler "$SCHEDULER" --model-out "$PSTRAIN_RUN_DIR/model.safetensors" \
        ${PSTRAIN_WORKER_ARGS:-} ;;
    *) die "unknown role '${1:-}' (scheduler, ps K, worker)" ;;
  esac
}

# One PS shard's srun step, restarted on the next node of the allocation if it dies
# before the job ends. Returns 0 when the shard finished with the job.
ps_loop() {
  local k=$1 attempt=0 node rc
  while :; do
    node=${NODES[$(((1 + k + attempt) % ${#NODES[@]}))]}
    [ $attempt -gt 0 ] && log "restarting PS $k on $node (restart $attempt of $PSTRAIN_PS_RESTARTS)"
    rc=0
    srun --overlap --nodes=1 --ntasks=1 --nodelist="$node" --job-name="ps-$k" \
      --output="$PSTRAIN_RUN_DIR/logs/ps-$k.$attempt.log" "$0" role ps "$k" || rc=$?
    [ $rc -eq 0 ] && return 0
    # A bad setting (exit 2) fails the same way on every node.
    if [ $rc -eq 2 ]; then
      # Its one-line reason becomes the job's.
      grep -h 'error:' "$PSTRAIN_RUN_DIR/logs/ps-$k.$attempt.log" | tail -n 1 | sed 's/^[^:]*: error: //' \
        >"$PSTRAIN_RUN_DIR/logs/failure" || true
      return 2
    fi
    kill -0 "$SCHED_PID" 2>/dev/null || return $rc  # the job is over
    attempt=$((attempt + 1))
    [ $attempt -le "$PSTRAIN_PS_RESTARTS" ] || { log "PS $k died $attempt times; giving up"; return $rc; }
  done
}

run() {
  require_slurm
  settings
  PSTRAIN_PS_RESTARTS=${PSTRAIN_PS_RESTARTS:-3}
  [[ "$PSTRAIN_PS_RESTARTS" =~ ^[0-9]+$ ]] || die "PSTRAIN_PS_RESTARTS='$PSTRAIN_PS_RESTARTS' is not a count: set it to 0 or more"
  if [ -n "${PSTRAIN_JOB:-}" ]; then
    [ -r "$PSTRAIN_JOB" ] || die "PSTRAIN_JOB='$PSTRAIN_JOB' is not a readable file: set it to the job file's path"
    cp "$PSTRAIN_JOB" "$JOB_FILE"
  else
    : >"$JOB_FILE"  # every key at its default
  fi
  local servers workers
  servers=$(job_count servers 2)
  workers=$(job_count workers 2)
  [[ "$servers" =~ ^[0-9]+$ && "$workers" =~ ^[0-9]+$ ]] ||
    die "$PSTRAIN_JOB: cluster.servers/cluster.workers must be integers (got '$servers', '$workers')"
  log "job $SLURM_JOB_ID: scheduler $SCHEDULER on ${NODES[0]}, $servers PS + $workers workers over ${#NODES[@]} nodes, run dir $PSTRAIN_RUN_DIR"

  srun --overlap --nodes=1 --ntasks=1 --nodelist="${NODES[0]}" --job-name=scheduler \
    --output="$PSTRAIN_RUN_DIR/logs/scheduler.log" "$0" role scheduler &
  SCHED_PID=$!
  local k ps_pids=() workers_pid
  for ((k = 0; k < servers; k++)); do
    ps_loop "$k" &
    ps_pids+=($!)
  done
  local spread=$((workers < ${#NODES[@]} ? workers : ${#NODES[@]}))
  srun --overlap --nodes="$spread" --ntasks="$workers" --distribution=cyclic --job-name=workers \
    --output="$PSTRAIN_RUN_DIR/logs/worker-%t.log" "$0" role worker &
  workers_pid=$!

  # Until the scheduler ends the job: a PS shard that cannot run fails it. (A poll, not
  # `wait -n -p`, which older bash on cluster nodes lacks.)
  local rc=0 p failed="" live=("${ps_pids[@]}") still
  while kill -0 "$SCHED_PID" 2>/dev/null && [ -z "$failed" ]; do
    still=()
    for p in "${live[@]}"; do
      if kill -0 "$p" 2>/dev/null; then
        still+=("$p")
      elif ! wait "$p"; then
        failed=$(cat "$PSTRAIN_RUN_DIR/logs/failure" 2>/dev/null || true)
        failed=${failed:-a PS shard could not run}
      fi
    done
    live=("${still[@]}")
    [ -n "$failed" ] || sleep 0.5
  done
  if [ -n "$failed" ]; then
    # Slurm stops every step still running when this script exits.
    echo "pstrain-slurm: error: $failed (logs: $PSTRAIN_RUN_DIR/logs/)" >&2
    return 1
  fi
  wait "$SCHED_PID" 2>/dev/null || rc=$?
  # The PS and workers leave once the scheduler has ended the job (a failed job's are
  # stopped with the allocation when this script exits).
  [ $rc -eq 0 ] && { wait "${ps_pids[@]}" "$workers_pid" 2>/dev/null || true; }
  grep -h 'test accuracy' "$PSTRAIN_RUN_DIR/logs/scheduler.log" | tail -n 1 || true
  log "scheduler exited with $rc"
  return $rc
}

case "${1:-}" in
  run) run ;;
  role) shift; role "$@" ;;
  *) die "usage: pstrain-slurm.sh run | role scheduler|ps K|worker" ;;
esac
