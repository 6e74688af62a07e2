#!/usr/bin/env bash
# Drill across hosts: worker 0's host drops 5% of its packets each way (nftables numgen
# random) and delays every TCP connection it opens by 20 ms each way (a userspace proxy: no
# tc netem on this kernel). The job completes within 1 point of the fault-free accuracy
# (`pstrain local`'s: BSP does not depend on timing), and the faults really acted.
source "$(dirname "$0")/lib.sh"

mh_init pmh3 10.77.7 5
# Dead after 5 s of silence: TCP retransmits a lost heartbeat after 200 ms or more.
mh_job "$MH_WORK/job.toml" 5000
"$NETNS" loss "$MH_LAB" 4 5
"$NETNS" delay "$MH_LAB" 4 20
mh_start_cluster "$MH_WORK/job.toml"
mh_wait_cluster 180

dropped=$("$NETNS" dropped "$MH_LAB" 4)
proxied=$(grep -c 'connection to' "/run/pstrain-netns/$MH_LAB-4.delay.log" || true)
for host in 1 2 3; do
  grep -q "connection to $(mh_ip $host):" "/run/pstrain-netns/$MH_LAB-4.delay.log" ||
    mh_fail "worker 0's connections to host $host were not delayed"
done
[ "$dropped" -gt 0 ] || mh_fail "no packet of worker 0's host was dropped"
grep -q 'dead' "$MH_WORK/scheduler.log" && mh_fail "a node was declared dead: $(grep dead "$MH_WORK/scheduler.log")"
mh_check_accuracy "$MH_WORK/scheduler.log" "$MH_WORK/job.toml" 0.01 \
  "5% loss + 20 ms on worker 0's link ($dropped packets dropped, $proxied connections delayed)"
echo "1 passed, 0 failed"
