#!/usr/bin/env bash
# Slurm, elastic: while a job trains, the README's one command adds a worker to it
# (srun --jobid=JOBID --overlap ... pstrain-slurm.sh role worker). The new worker finds the
# scheduler from the job's Slurm environment, joins, trains data shards, and the job completes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/slurm_lib.sh"

slurm_up psl4 10.77.5
mh_job "$MH_WORK/job.toml"
sed -i 's/^epochs = 1/epochs = 2/' "$MH_WORK/job.toml"
run="$MH_WORK/run"
id=$(slurm_submit PSTRAIN_RUN_DIR="$run" PSTRAIN_JOB="$MH_WORK/job.toml" PSTRAIN_BIN="$PST_BIN_DIR" \
  PSTRAIN_WORKER_ARGS="--step-delay-ms 20" -- --nodes=3) || mh_fail "sbatch failed"
mh_wait_file "$run/logs/scheduler.log" 60 || mh_fail "the scheduler never started"
for _ in $(seq 600); do
  grep -q 'job started' "$run/logs/scheduler.log" && break
  sleep 0.1
done
grep -q 'job started' "$run/logs/scheduler.log" || mh_fail "the job never started"

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
