#!/usr/bin/env bash
# Slurm, elastic: while a job trains, the README's one command adds a worker to it
# (srun --jobid=JOBID --overlap ... pstrain-slurm.sh role worker). The new worker finds the
# scheduler from the job's Slurm environment, joins, trains data shards, and the job completes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/slurm_lib.sh"

slurm_up psl4 10.77.5
slurm_submit_long 20
run=$RUN id=$JOB_ID

# The documented command, from the login host.
(cd "$PST_SOURCE_DIR" && PSTRAIN_RUN_DIR="$run" PSTRAIN_BIN="$PST_BIN_DIR" PSTRAIN_WORKER_ARGS="--step-delay-ms 20" \
  "$NETNS" exec "$MH_LAB" 1 srun --jobid="$id" --overlap --ntasks=1 deploy/slurm/pstrain-slurm.sh role worker) \
  >"$MH_WORK/added-worker.log" 2>&1 &
added=$!
mh_log "job $id started; adding a worker"

state=$(slurm_wait_job "$id" 180)
cp "$run"/logs/*.log "$MH_WORK/" 2>/dev/null || true
[ "$state" = COMPLETED ] || mh_fail "job $id ended $state"
rc=0
mh_wait_pid "$added" 30 || rc=$?
[ $rc -eq 0 ] || mh_fail "the added worker exited with $rc"
grep -q 'worker 2 .* joined the running job' "$run/logs/scheduler.log" || mh_fail "no third worker joined"
steps=$(grep -o 'finished after [0-9]* steps' "$MH_WORK/added-worker.log" | awk '{print $3}')
[ "${steps:-0}" -gt 0 ] || mh_fail "the added worker trained no steps"
acc=$(mh_accuracy "$run/logs/scheduler.log")
mh_log "the added worker trained $steps steps; final accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.75) }' || mh_fail "accuracy $acc below 0.75"
slurm_nothing_left || mh_fail "pstrain processes still run on the nodes"
echo "1 passed, 0 failed"
