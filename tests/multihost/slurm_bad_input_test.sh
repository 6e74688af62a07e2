#!/usr/bin/env bash
# Slurm bad input: a missing or wrong Slurm variable, a scheduler address that does not
# resolve, an unwritable run directory or PS state directory. Each gives one line saying
# what is wrong and what to set, a non-zero exit (the Slurm job FAILED), and leaves nothing
# running on any node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/slurm_lib.sh"

slurm=$PST_SOURCE_DIR/deploy/slurm/pstrain-slurm.sh
passed=0

# expect_line OUTPUT RC PATTERN: exactly one line, matching PATTERN, and exit code 2.
expect_line() {
  local lines
  lines=$(printf '%s\n' "$1" | grep -c . || true)
  [ "$2" -eq 2 ] || mh_fail "exit code $2, not 2, for: $1"
  [ "$lines" -eq 1 ] || mh_fail "expected one line, got $lines: $1"
  echo "$1" | grep -q "$3" || mh_fail "'$1' does not say '$3'"
  passed=$((passed + 1))
}

slurm_up psl3 10.77.4

# Outside a Slurm job, and with Slurm variables that make no sense.
rc=0; out=$(env -u SLURM_JOB_ID -u SLURM_JOB_NODELIST PSTRAIN_RUN_DIR="$MH_WORK/r0" "$slurm" run 2>&1) || rc=$?
expect_line "$out" $rc "SLURM_JOB_ID is not set: run this inside a Slurm job"
rc=0; out=$(SLURM_JOB_ID=12x SLURM_JOB_NODELIST=n1 "$slurm" role worker 2>&1) || rc=$?
expect_line "$out" $rc "SLURM_JOB_ID='12x' is not a job id"
rc=0; out=$(SLURM_JOB_ID=7 SLURM_JOB_NODELIST='n[1-' on_login "$slurm" role worker 2>&1) || rc=$?
expect_line "$out" $rc "SLURM_JOB_NODELIST='n\[1-' is not a node list"
rc=0; out=$(SLURM_JOB_ID=7 SLURM_JOB_NODELIST=n1 PSTRAIN_RUN_DIR=relative on_login "$slurm" run 2>&1) || rc=$?
expect_line "$out" $rc "PSTRAIN_RUN_DIR='relative' is not an absolute path"

# submit_fails NAME PATTERN ENV...: a job submitted with these settings FAILS with one
# "pstrain-slurm: error:" line matching PATTERN in its output, and nothing is left running.
submit_fails() {
  local name=$1 pattern=$2 id state errors
  shift 2
  id=$(slurm_submit PSTRAIN_BIN="$PST_BIN_DIR" PSTRAIN_JOB="$MH_WORK/job.toml" "$@" -- --nodes=3) ||
    mh_fail "$name: sbatch failed"
  state=$(slurm_wait_job "$id" 90)
  cp "$MH_WORK/sbatch-$id.out" "$MH_WORK/sbatch-$name.log"
  [ "$state" = FAILED ] || mh_fail "$name: job $id ended $state, not FAILED"
  errors=$(grep 'pstrain-slurm: error:' "$MH_WORK/sbatch-$id.out" || true)
  [ "$(printf '%s\n' "$errors" | grep -c .)" -eq 1 ] || mh_fail "$name: not one error line: $errors"
  echo "$errors" | grep -q "$pattern" || mh_fail "$name: '$errors' does not say '$pattern'"
  for _ in $(seq 50); do slurm_nothing_left && break; sleep 0.1; done
  slurm_nothing_left || mh_fail "$name: pstrain processes still run on the nodes"
  mh_log "$name: $errors"
  passed=$((passed + 1))
}

mh_job "$MH_WORK/job.toml"
submit_fails unresolvable "scheduler host 'no-such-host.invalid' (PSTRAIN_SCHEDULER_HOST) does not resolve" \
  PSTRAIN_RUN_DIR="$MH_WORK/r1" PSTRAIN_SCHEDULER_HOST=no-such-host.invalid
submit_fails run-dir "PSTRAIN_RUN_DIR='/proc/pstrain' is not writable" PSTRAIN_RUN_DIR=/proc/pstrain
# Shard 1's state directory cannot be made (a file is in its way): only that PS fails,
# on its own node, and the job fails with it instead of waiting for the shard.
mkdir -p "$MH_WORK/r2/state"
: >"$MH_WORK/r2/state/ps-1"
submit_fails ps-state "PS 1's state directory .* is not writable on n3" PSTRAIN_RUN_DIR="$MH_WORK/r2"
echo "$passed passed, 0 failed"
