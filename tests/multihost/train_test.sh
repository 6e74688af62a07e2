#!/usr/bin/env bash
# Multi-host training: scheduler, 2 PS and 2 workers on five hosts (network
# namespaces with their own IPs), started with the per-role flags of the
# README's "Running across machines". Checks that the PS advertise their own
# hosts' addresses, that each worker talks to both PS across the bridge, and
# that the job ends with the accuracy `pstrain local` gets for the same job.
source "$(dirname "$0")/lib.sh"

mh_init pmh1 10.77.1 5
sched=$(mh_ip 1)
mh_job "$MH_WORK/job.toml"
mh_start_cluster "$MH_WORK/job.toml" --step-delay-ms 10

# While it trains: the scheduler's view of the cluster, from outside the hosts.
status=""
for _ in $(seq 300); do
  status=$(mh_status)
  [ "$(echo "$status" | jq -r '.state' 2>/dev/null)" = running ] && break
  sleep 0.1
done
[ "$(echo "$status" | jq -r '.state')" = running ] || mh_fail "the job never ran: $status"
for k in 0 1; do
  ep=$(echo "$status" | jq -r ".nodes[] | select(.role == \"ps\" and .rank == $k) | .endpoint")
  [[ "$ep" == "tcp://$(mh_ip $((2 + k))):"* ]] || mh_fail "PS $k advertises '$ep', not its host's address"
done
# Each worker host reaches both PS hosts (the data path crosses hosts): the connections
# exist while the workers train (at least 1 s: 10 ms per step), each seen once is kept.
declare -A seen=()
for _ in $(seq 300); do
  for r in 0 1; do
    conns=$("$NETNS" exec "$MH_LAB" $((4 + r)) ss -Htn state established)
    for k in 0 1; do
      grep -q " $(mh_ip $((2 + k))):" <<<"$conns" && seen[$r$k]=1
    done
  done
  [ ${#seen[@]} -eq 4 ] && break
  sleep 0.1
done
for r in 0 1; do
  for k in 0 1; do
    [ -n "${seen[$r$k]:-}" ] || mh_fail "worker $r never connected to PS $k's host $(mh_ip $((2 + k)))"
  done
done

mh_wait_cluster 120

mh_check_accuracy "$MH_WORK/scheduler.log" "$MH_WORK/job.toml" 0.01 "multi-host"
echo "1 passed, 0 failed"
