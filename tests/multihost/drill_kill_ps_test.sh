#!/usr/bin/env bash
# Drill across hosts: PS 0 (host 2) gets kill -9 once the job has a complete checkpoint, and
# its replacement starts on another host (host 6) from the shared state directory, with the
# README's replacement command. The job rolls back to that checkpoint and completes near the
# accuracy `pstrain local` gets.
source "$(dirname "$0")/lib.sh"

mh_start_long_cluster pmh2 10.77.6 6
[ "$(basename "$(readlink "/proc/${MH_PIDS[1]}/exe")")" = pstrain-ps ] || mh_fail "PS 0's pid is not pstrain-ps"
mh_kill9 "${MH_PIDS[1]}"
mh_log "killed PS 0 on $(mh_ip 2); starting its replacement on $(mh_ip 6)"
mh_start_ps 0 6 .replacement
MH_PIDS[1]=$MH_PID
mh_wait_cluster 120

grep -q "serving tcp://$(mh_ip 6):" "$MH_WORK/ps-0.replacement.log" || mh_fail "the replacement did not serve from host 6"
grep -q 'replacement for shard 0' "$MH_WORK/scheduler.log" || mh_fail "the scheduler did not take it as shard 0's replacement"
grep -qi 'roll' "$MH_WORK/scheduler.log" || mh_fail "no rollback"
mh_check_accuracy "$MH_WORK/scheduler.log" "$MH_WORK/job.toml" 0.02 "PS moved hosts"
echo "1 passed, 0 failed"
