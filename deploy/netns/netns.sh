#!/usr/bin/env bash
# A "lab" of hosts on one machine: one network namespace per host, each with its
# own IPv4 address on a bridge, plus the link faults the multi-host drills use.
# Needs root and iproute2 (nftables for `loss`). The tests under tests/multihost/
# use it; so can you, to try a multi-host job by hand:
#
#   deploy/netns/netns.sh up demo 10.77.9 5      # hosts demo-1..demo-5 = 10.77.9.11..15
#   deploy/netns/netns.sh exec demo 1 build/bin/pstrain-scheduler --bind 10.77.9.11 ...
#   deploy/netns/netns.sh down demo               # kills what runs inside, removes it all
#
# Subcommands:
#   up LAB PREFIX N        bridge LAB-br with PREFIX.1/24 (the machine itself, reachable from
#                          every host), hosts LAB-1..LAB-N with PREFIX.(10+i)/24
#   down LAB               SIGKILL every process in LAB's namespaces, remove them and the bridge
#                          (idempotent: fine on a half-made or already removed lab)
#   exec LAB I CMD...      run CMD on host I (nsenter --net, so /sys and cgroups stay visible)
#   ip LAB I               print host I's address
#   pids LAB I             print the PIDs running in host I's namespace
#   link LAB I up|down     plug or unplug host I's cable (its bridge port)
#   loss LAB I PCT         drop PCT% of host I's packets, each way (nftables numgen random)
#   loss LAB I 0           remove that rule
#   dropped LAB I          print how many packets the loss rules dropped
#   delay LAB I MS         add MS ms to each direction of every TCP connection host I opens (a
#                          userspace proxy, delay_proxy.py: this kernel has no tc netem); 0 removes it
# LAB: 1-8 characters [a-z0-9] (interface names are LAB-br, LAB-vI).
set -euo pipefail

state_dir=/run/pstrain-netns

die() { echo "netns.sh: $*" >&2; exit 2; }

check_lab() {
  [[ "$1" =~ ^[a-z0-9]{1,8}$ ]] || die "lab name '$1' must be 1-8 characters [a-z0-9]"
}

prefix_of() {
  [ -f "$state_dir/$1.prefix" ] || die "no lab '$1' (run: netns.sh up $1 PREFIX N)"
  cat "$state_dir/$1.prefix"
}

ns_path() { echo "/run/netns/$1-$2"; }

cmd_up() {
  local lab=$1 prefix=$2 n=$3
  check_lab "$lab"
  [[ "$prefix" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "prefix '$prefix' must look like 10.77.3"
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "host count '$n' must be 1-200"
  [ "$(id -u)" -eq 0 ] || die "network namespaces need root"
  ip link show "$lab-br" >/dev/null 2>&1 && die "lab '$lab' exists (netns.sh down $lab first)"
  mkdir -p "$state_dir"
  echo "$prefix" >"$state_dir/$lab.prefix"
  echo "$n" >"$state_dir/$lab.hosts"
  ip link add "$lab-br" type bridge
  ip addr add "$prefix.1/24" dev "$lab-br"
  ip link set "$lab-br" up
  local i
  for ((i = 1; i <= n; i++)); do
    ip netns add "$lab-$i"
    ip link add "$lab-v$i" type veth peer name "$lab-p$i"
    ip link set "$lab-p$i" netns "$lab-$i"
    ip link set "$lab-v$i" master "$lab-br" up
    ip -n "$lab-$i" link set lo up
    ip -n "$lab-$i" link set "$lab-p$i" name eth0
    ip -n "$lab-$i" addr add "$prefix.$((10 + i))/24" dev eth0
    ip -n "$lab-$i" link set eth0 up
  done
}

cmd_down() {
  local lab=$1 i pid
  check_lab "$lab"
  local n=0
  [ -f "$state_dir/$lab.hosts" ] && n=$(cat "$state_dir/$lab.hosts")
  # Also whatever a half-finished `up` left (hosts file written first).
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$lab-[0-9]+$" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null || true); do kill -9 "$pid" 2>/dev/null || true; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$lab-[0-9]+$" || true); do
    # A killed process leaves the namespace once the kernel has reaped it.
    for _ in $(seq 50); do
      [ -z "$(ip netns pids "$ns" 2>/dev/null || true)" ] && break
      sleep 0.1
    done
    ip netns del "$ns" 2>/dev/null || true
  done
  for ((i = 1; i <= n; i++)); do ip link del "$lab-v$i" 2>/dev/null || true; done
  ip link del "$lab-br" 2>/dev/null || true
  rm -f "$state_dir/$lab.prefix" "$state_dir/$lab.hosts" "$state_dir/$lab"-*.delay.*
}

cmd_exec() {
  local lab=$1 i=$2
  shift 2
  prefix_of "$lab" >/dev/null
  [ -e "$(ns_path "$lab" "$i")" ] || die "lab '$lab' has no host $i"
  exec nsenter --net="$(ns_path "$lab" "$i")" -- "$@"
}

cmd_link() {
  local lab=$1 i=$2 state=$3
  prefix_of "$lab" >/dev/null
  [[ "$state" == up || "$state" == down ]] || die "link state must be up or down, not '$state'"
  ip link set "$lab-v$i" "$state"
}

cmd_loss() {
  local lab=$1 i=$2 pct=$3 ns
  prefix_of "$lab" >/dev/null
  [[ "$pct" =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "loss must be a percentage 0-100, not '$pct'"
  ns=$(ns_path "$lab" "$i")
  nsenter --net="$ns" -- nft delete table inet pstrain_loss 2>/dev/null || true
  [ "$pct" -eq 0 ] && return 0
  nsenter --net="$ns" -- nft -f - <<NFT
table inet pstrain_loss {
  chain in { type filter hook input priority 0; iifname "eth0" numgen random mod 100 < $pct counter drop; }
  chain out { type filter hook output priority 0; oifname "eth0" numgen random mod 100 < $pct counter drop; }
}
NFT
}

cmd_delay() {
  local lab=$1 i=$2 ms=$3 ns port=7777
  prefix_of "$lab" >/dev/null
  [[ "$ms" =~ ^[0-9]+$ ]] || die "delay must be whole milliseconds, not '$ms'"
  ns=$(ns_path "$lab" "$i")
  nsenter --net="$ns" -- nft delete table ip pstrain_delay 2>/dev/null || true
  if [ -f "$state_dir/$lab-$i.delay.pid" ]; then
    kill "$(cat "$state_dir/$lab-$i.delay.pid")" 2>/dev/null || true
    rm -f "$state_dir/$lab-$i.delay.pid"
  fi
  [ "$ms" -eq 0 ] && return 0
  nsenter --net="$ns" -- python3 "$(dirname "$0")/delay_proxy.py" $port "$ms" >"$state_dir/$lab-$i.delay.log" 2>&1 &
  echo $! >"$state_dir/$lab-$i.delay.pid"
  local _
  for _ in $(seq 50); do grep -q delay_proxy "$state_dir/$lab-$i.delay.log" 2>/dev/null && break; sleep 0.1; done
  grep -q delay_proxy "$state_dir/$lab-$i.delay.log" || die "the delay proxy did not start: $(cat "$state_dir/$lab-$i.delay.log")"
  # The proxy's own connections carry mark 0x77 and go out unchanged.
  nsenter --net="$ns" -- nft -f - <<NFT
table ip pstrain_delay {
  chain out { type nat hook output priority -100; ip daddr != 127.0.0.0/8 meta l4proto tcp meta mark != 0x77 redirect to :$port; }
}
NFT
}

[ $# -ge 2 ] || die "usage: netns.sh up|down|exec|ip|pids|link|loss LAB ... (see the comment at the top)"
sub=$1
shift
case "$sub" in
  up) [ $# -eq 3 ] || die "usage: netns.sh up LAB PREFIX N"; cmd_up "$@" ;;
  down) [ $# -eq 1 ] || die "usage: netns.sh down LAB"; cmd_down "$@" ;;
  exec) [ $# -ge 3 ] || die "usage: netns.sh exec LAB I CMD..."; cmd_exec "$@" ;;
  ip) [ $# -eq 2 ] || die "usage: netns.sh ip LAB I"; echo "$(prefix_of "$1").$((10 + $2))" ;;
  pids) [ $# -eq 2 ] || die "usage: netns.sh pids LAB I"; ip netns pids "$1-$2" ;;
  link) [ $# -eq 3 ] || die "usage: netns.sh link LAB I up|down"; cmd_link "$@" ;;
  loss) [ $# -eq 3 ] || die "usage: netns.sh loss LAB I PCT"; cmd_loss "$@" ;;
  dropped) [ $# -eq 2 ] || die "usage: netns.sh dropped LAB I"
    nsenter --net="$(ns_path "$1" "$2")" -- nft list table inet pstrain_loss | grep -o 'packets [0-9]*' |
      awk '{ n += $2 } END { print n + 0 }' ;;
  delay) [ $# -eq 3 ] || die "usage: netns.sh delay LAB I MS"; cmd_delay "$@" ;;
  *) die "unknown subcommand '$sub' (up, down, exec, ip, pids, link, loss, delay)" ;;
esac
