#!/usr/bin/env bash
# A real Slurm cluster (munged, slurmctld, three slurmd nodes on network-namespace hosts)
# runs deploy/slurm/pstrain.sbatch: the scheduler on the first node, PS and workers spread
# by srun. The job must end COMPLETED with the accuracy `pstrain local` gets for the same
# job, with the PS on other nodes than the scheduler, and leave nothing running.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/slurm_lib.sh"

slurm_up psl1 10.77.2
mh_job "$MH_WORK/job.toml"
run="$MH_WORK/run"
id=$(slurm_submit PSTRAIN_RUN_DIR="$run" PSTRAIN_JOB="$MH_WORK/job.toml" PSTRAIN_BIN="$PST_BIN_DIR" \
  -- --nodes=3) || mh_fail "sbatch failed"
mh_log "submitted job $id"
state=$(slurm_wait_job "$id" 150)
cp "$MH_WORK/sbatch-$id.out" "$MH_WORK/sbatch.log" 2>/dev/null || true
cp "$run"/logs/*.log "$MH_WORK/" 2>/dev/null || true
[ "$state" = COMPLETED ] || mh_fail "job $id ended $state"

# Where the roles ran: the scheduler on n1 (10.77.2.12), PS 0 on n2, PS 1 on n3.
grep -q "listening at tcp://$(mh_ip 2):7000" "$run/logs/scheduler.log" ||
  mh_fail "the scheduler did not run on the first node"
grep -q "serving tcp://$(mh_ip 3):" "$run/logs/ps-0.0.log" || mh_fail "PS 0 did not run on n2"
grep -q "serving tcp://$(mh_ip 4):" "$run/logs/ps-1.0.log" || mh_fail "PS 1 did not run on n3"
[ -s "$run/model.safetensors" ] || mh_fail "no model was written"

mh_check_accuracy "$run/logs/scheduler.log" "$MH_WORK/job.toml" 0.01 "Slurm job"
grep -q "test accuracy $MH_ACC" "$MH_WORK/sbatch-$id.out" || mh_fail "the batch output does not report the accuracy"
slurm_nothing_left || mh_fail "pstrain processes still run on the nodes"
echo "1 passed, 0 failed"
