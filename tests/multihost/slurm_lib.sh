# A real Slurm cluster on network-namespace hosts (sourced after lib.sh): Debian's munged,
# slurmctld on host 1 (the login/controller host) and slurmd "nodes" n1..n3 on hosts 2..4,
# each in its own network and UTS namespace (its own IP and host name). slurmd is started
# with nsenter --net (netns.sh exec), not `ip netns exec`, which would hide the cgroup
# mounts. Everything lives in $MH_WORK and the lab; mh_cleanup removes it all.

# slurm_up LAB PREFIX: the cluster, waiting until sinfo shows the three nodes idle.
slurm_up() {
  mh_init "$1" "$2" 4
  local ctl_ip
  ctl_ip=$(mh_ip 1)
  SLURM_DIR="$MH_WORK/slurm"
  mkdir -p "$SLURM_DIR/ctld" "$SLURM_DIR/spool/n1" "$SLURM_DIR/spool/n2" "$SLURM_DIR/spool/n3"
  mungekey -c -k "$SLURM_DIR/munge.key" >/dev/null
  chmod 600 "$SLURM_DIR/munge.key"
  munged -f --socket="$SLURM_DIR/munge.sock" --key-file="$SLURM_DIR/munge.key" \
    --log-file="$SLURM_DIR/munged.log" --pid-file="$SLURM_DIR/munged.pid" \
    --seed-file="$SLURM_DIR/munged.seed"
  MH_EXTRA_CLEANUP+=("kill \$(cat '$SLURM_DIR/munged.pid' 2>/dev/null) 2>/dev/null")
  export SLURM_CONF="$SLURM_DIR/slurm.conf"
  cat >"$SLURM_CONF" <<CONF
ClusterName=pstlab
SlurmctldHost=ctl($ctl_ip)
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
AuthInfo=socket=$SLURM_DIR/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SLURM_DIR/ctld
SlurmdSpoolDir=$SLURM_DIR/spool/%n
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd-%n.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
KillWait=5
NodeName=n1 NodeHostname=n1 NodeAddr=$(mh_ip 2) CPUs=4 State=UNKNOWN
NodeName=n2 NodeHostname=n2 NodeAddr=$(mh_ip 3) CPUs=4 State=UNKNOWN
NodeName=n3 NodeHostname=n3 NodeAddr=$(mh_ip 4) CPUs=4 State=UNKNOWN
PartitionName=lab Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
CONF
  mh_on 1 slurmctld unshare --uts sh -c "hostname ctl && exec slurmctld -D -f '$SLURM_CONF'"
  local i
  for i in 1 2 3; do
    mh_on $((i + 1)) slurmd-n$i unshare --uts sh -c "hostname n$i && exec slurmd -D -f '$SLURM_CONF' -N n$i"
  done
  for _ in $(seq 300); do
    [ "$(on_login sinfo -h -t idle -o '%D' 2>/dev/null)" = 3 ] && return 0
    sleep 0.1
  done
  on_login sinfo >&2 || true
  mh_fail "the Slurm nodes never became idle"
}

# on_login CMD...: a Slurm client command on the controller host.
on_login() { "$NETNS" exec "$MH_LAB" 1 "$@"; }

# slurm_submit VAR=VALUE... -- SBATCH_ARGS...: submits deploy/slurm/pstrain.sbatch with
# those settings from the checkout; prints the job id.
slurm_submit() {
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  (cd "$PST_SOURCE_DIR" && env "${envs[@]}" "$NETNS" exec "$MH_LAB" 1 sbatch --parsable \
    --output="$MH_WORK/sbatch-%j.out" "$@" deploy/slurm/pstrain.sbatch)
}

# slurm_submit_long DELAY_MS: the short job over 2 epochs, workers sleeping DELAY_MS per step
# (so that it trains long enough for something to happen mid-way), submitted over the three
# nodes. Sets RUN (its run directory) and JOB_ID; returns once its scheduler logged "job started".
slurm_submit_long() {
  mh_job "$MH_WORK/job.toml"
  sed -i 's/^epochs = 1/epochs = 2/' "$MH_WORK/job.toml"
  RUN="$MH_WORK/run"
  JOB_ID=$(slurm_submit PSTRAIN_RUN_DIR="$RUN" PSTRAIN_JOB="$MH_WORK/job.toml" PSTRAIN_BIN="$PST_BIN_DIR" \
    PSTRAIN_WORKER_ARGS="--step-delay-ms $1" -- --nodes=3) || mh_fail "sbatch failed"
  mh_log "submitted job $JOB_ID"
  mh_wait_line "$RUN/logs/scheduler.log" 'job started' 60 || mh_fail "the job never started"
}

# slurm_job_state ID: PENDING, RUNNING, COMPLETED, FAILED, ... ("" once slurmctld forgot it).
slurm_job_state() { on_login scontrol show job -o "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

# slurm_wait_job ID SECONDS: waits for the job to end; prints its final state.
slurm_wait_job() {
  local state=""
  for _ in $(seq $(($2 * 5))); do
    state=$(slurm_job_state "$1")
    case "$state" in PENDING | RUNNING | CONFIGURING | COMPLETING | "") sleep 0.2 ;; *) echo "$state"; return 0 ;; esac
  done
  echo "TIMEOUT($state)"
}

# slurm_nothing_left: no pstrain process runs on any node.
slurm_nothing_left() {
  local i p
  for i in 2 3 4; do
    for p in $("$NETNS" pids "$MH_LAB" $i); do
      case "$(basename "$(readlink "/proc/$p/exe" 2>/dev/null)")" in
        pstrain-scheduler | pstrain-ps | pstrain-worker) return 1 ;;
      esac
    done
  done
  return 0
}
