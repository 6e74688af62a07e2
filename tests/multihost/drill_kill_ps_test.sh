#!/usr/bin/env bash
# Drill across hosts: PS 0 (host 2) gets kill -9 once the job has a complete checkpoint, and
# its replacement starts on another host (host 6) from the shared state directory, with the
# README's replacement command. The job rolls back to that checkpoint and completes near the
# accuracy `pstrain local` gets.
source "$(dirname "$0")/lib.sh"

mh_init pmh2 10.77.6 6
mh_job "$MH_WORK/job.toml"
sed -i 's/^epochs = 1/epochs = 2/' "$MH_WORK/job.toml"
mh_start_cluster "$MH_WORK/job.toml" --step-delay-ms 10
mh_wait_line "$MH_WORK/scheduler.log" 'checkpoint 1 complete' 60 || mh_fail "no checkpoint completed"
grep -q 'job done' "$MH_WORK/scheduler.log" && mh_fail "the job ended before the fault"
[ "$(basename "$(readlink "/proc/${MH_PIDS[1]}/exe")")" = pstrain-ps ] || mh_fail "PS 0's pid is not pstrain-ps"
mh_kill9 "${MH_PIDS[1]}"
mh_log "killed PS 0 on $(mh_ip 2); starting its replacement on $(mh_ip 6)"
mh_start_ps 0 6 .replacement
MH_PIDS[1]=$MH_PID
mh_wait_cluster 120

grep -q "serving tcp://$(mh_ip 6):" "$MH_WORK/ps-0.replacement.log" || mh_fail "the replacement did not serve from host 6"
grep -q 'replacement for shard 0' "$MH_WORK/scheduler.log" || mh_fail "the scheduler did not take it as shard 0's replacement"
grep -qi 'roll' "$MH_WORK/scheduler.log" || mh_fail "no rollback"
acc=$(mh_accuracy "$MH_WORK/scheduler.log")
ref=$(mh_local_accuracy "$MH_WORK/job.toml")
mh_log "accuracy after the PS moved hosts $acc, pstrain local $ref"
[ -n "$acc" ] && [ -n "$ref" ] || mh_fail "no accuracy ('$acc', local '$ref')"
mh_close "$acc" "$ref" 0.02 || mh_fail "accuracy $acc is more than 2 points from pstrain local's $ref"
echo "1 passed, 0 failed"
