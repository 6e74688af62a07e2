#!/usr/bin/env bash
# Drill across hosts: worker 1's cable (host 5) is pulled for longer than the heartbeat
# timeout. The scheduler declares it dead and its lease goes back to the pool (worker 0
# trains the rest); when the cable is back the worker leaves with one clear line, and the job
# completes.
source "$(dirname "$0")/lib.sh"

mh_start_long_cluster pmh4 10.77.9 5
rank=$(grep -o 'registered as worker [0-9]*' "$MH_WORK/worker-1.log" | awk '{print $4}')
[ -n "$rank" ] || mh_fail "the worker on host 5 never registered"
"$NETNS" link "$MH_LAB" 5 down
mh_log "pulled host 5's cable (worker $rank)"
mh_wait_line "$MH_WORK/scheduler.log" "worker $rank .*is dead" 30 || mh_fail "worker 1 was never declared dead"
mh_wait_line "$MH_WORK/scheduler.log" "worker $rank completed .* went back to the pool" 10 || mh_fail "worker 1's lease did not go back to the pool"
"$NETNS" link "$MH_LAB" 5 up
mh_log "worker $rank declared dead; cable back"

# The cut-off worker learns it was removed once it can talk again, and leaves.
rc=0
mh_wait_pid "${MH_PIDS[4]}" 60 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || mh_fail "the cut-off worker exited with $rc, not an error"
errors=$(grep 'pstrain-worker: error:' "$MH_WORK/worker-1.log" || true)
[ "$(printf '%s\n' "$errors" | grep -c .)" -eq 1 ] || mh_fail "not one error line: $errors"
# Whichever peer answers it first says so: a PS (its push) or the scheduler (its lease request).
echo "$errors" | grep -Eq "worker $rank (was removed from the job|was declared dead or left)" ||
  mh_fail "unclear exit: $errors"
MH_PIDS=("${MH_PIDS[@]:0:4}")
mh_wait_cluster 120
acc=$(mh_accuracy "$MH_WORK/scheduler.log")
mh_log "the cut-off worker left with: $errors; the job completed with accuracy $acc"
awk -v a="$acc" 'BEGIN { exit !(a >= 0.75) }' || mh_fail "accuracy $acc below 0.75"
echo "1 passed, 0 failed"
