#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster for the integration tests.
#
#   tests/slurm/start.sh [STATE_DIR]        (default: $TOKATTN_SLURM_DIR or /tmp/tokattn-slurm)
#   eval "$(tests/slurm/start.sh)"          (exports SLURM_CONF, TOKATTN_SLURM_DIR and
#                                            TOKATTN_SLURM_STARTED: 0 if it was running)
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing,
# writes slurm.conf + gres.conf (fake GPUs, so `--gpus=N` schedules on a CPU-only node)
# into STATE_DIR, starts munged, slurmctld and slurmd in the foreground as background
# processes of this script, records their PIDs in STATE_DIR/pids/, and waits until the
# node is idle. tests/slurm/stop.sh stops exactly those PIDs.
#
# Outside STATE_DIR only the apt install and a symlink /etc/slurm/slurm.conf -> our
# config (when no other file is there; jobs need it, see below; stop.sh removes it):
# the daemons read $SLURM_CONF, munge uses its own key and socket in STATE_DIR.
# Needs root (slurmd starts job steps as the submitting user). Exit status 3 means
# "cannot run here" (not root, no apt); the test suite turns that into a skip.
#
# Several users at once (two pytest sessions, CI): the caller may name a lease, usually
# its PID, in TOKATTN_SLURM_LEASE; `stop.sh --release PID` then stops the cluster only
# when no live lease is left, and only if a leasing caller started it (a cluster that
# .ci/run or a person started without a lease is theirs to stop). A lock file serialises
# start.sh and stop.sh.
#
# Environment knobs: TOKATTN_SLURM_GPUS (fake GPUs on the node, default 4),
# TOKATTN_SLURM_CPUS (CPUs advertised, default: the real count, at least 4), TOKATTN_SLURM_PORT
# (slurmctld port, default 16817; slurmd uses port+1).
set -euo pipefail

STATE_DIR=${1:-${TOKATTN_SLURM_DIR:-/tmp/tokattn-slurm}}
GPUS=${TOKATTN_SLURM_GPUS:-4}
CTLD_PORT=${TOKATTN_SLURM_PORT:-16817}
SLURMD_PORT=$((CTLD_PORT + 1))
WAIT_S=${TOKATTN_SLURM_WAIT_S:-60}

log() { echo "start.sh: $*" >&2; }
cannot_run() {
    log "cannot start a SLURM cluster here: $*"
    exit 3
}

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
CONF="$STATE_DIR/slurm.conf"
PIDS="$STATE_DIR/pids"
LEASES="$STATE_DIR/leases"
LEASE=${TOKATTN_SLURM_LEASE:-}

# One start.sh/stop.sh at a time per state dir (fd 9; the daemons do not inherit it).
exec 9>"$STATE_DIR/lock"
flock -w 600 9 || {
    log "another start.sh/stop.sh holds $STATE_DIR/lock"
    exit 1
}

take_lease() {
    [[ -n $LEASE ]] || return 0
    mkdir -p "$LEASES" && : >"$LEASES/$LEASE"
}

print_env() {
    echo "export SLURM_CONF=$CONF"
    echo "export TOKATTN_SLURM_DIR=$STATE_DIR"
}

alive() { [[ -f "$PIDS/$1.pid" ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

# Already running (e.g. started by .ci/run): report and leave it alone.
if alive munged && alive slurmctld && alive slurmd \
    && SLURM_CONF=$CONF sinfo -h -o %t 2>/dev/null | grep -qxE 'idle|mix|alloc|comp'; then
    log "cluster already running in $STATE_DIR"
    take_lease
    print_env
    echo "export TOKATTN_SLURM_STARTED=0" # not ours to stop
    exit 0
fi

[[ $(id -u) -eq 0 ]] || cannot_run "needs root (slurmd runs jobs as the submitting user)"

# --- install -----------------------------------------------------------------------
missing=()
for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged /usr/sbin/mungekey; do
    [[ -x $bin ]] || missing+=("$bin")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || cannot_run "missing ${missing[*]} and no apt-get"
    log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' maintainer scripts would start system-wide munged/slurmd services;
    # a policy-rc.d that denies every start keeps them off (removed again below).
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    if ! apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
        >"$STATE_DIR/apt.log" 2>&1; then
        apt-get update -qq >>"$STATE_DIR/apt.log" 2>&1 || true
        apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
            >>"$STATE_DIR/apt.log" 2>&1 || cannot_run "apt-get install failed (see $STATE_DIR/apt.log)"
    fi
    if [[ -n ${policy:-} ]] && [[ $(trap -p EXIT) ]]; then
        rm -f "$policy"
        trap - EXIT
    fi
fi

# Stale processes of an earlier run in this directory would hold the ports.
if [[ -d $PIDS ]]; then
    TOKATTN_SLURM_LOCKED=1 "$(dirname "$0")/stop.sh" "$STATE_DIR" >&2 || true
fi
# Leases of the cluster that is gone are void; a lease-holder starting it marks it as
# one that `stop.sh --release` may stop.
rm -rf "$LEASES"
if [[ -n $LEASE ]]; then : >"$STATE_DIR/started-for-lease"; else rm -f "$STATE_DIR/started-for-lease"; fi
rm -rf "$STATE_DIR"/{ctld,spool,log,munge,pids,dev}
mkdir -p "$STATE_DIR"/{ctld,spool,log,pids,dev}
install -d -m 0700 "$STATE_DIR/munge"

# --- config ------------------------------------------------------------------------
NODE=$(hostname -s)
read -r REAL_CPUS REAL_MEM < <(slurmd -C | awk -F'[= ]' '
    {for (i = 1; i < NF; i++) {if ($i == "CPUs") c = $(i+1); if ($i == "RealMemory") m = $(i+1)}}
    END {print c, m}')
# At least 4 CPUs advertised (config_overrides below lets slurmd accept more than it
# has): the tiny config's 2-thread jobs then run two at a time even on a 2-core machine,
# where much of each job is Snakemake starting up rather than computing.
CPUS=${TOKATTN_SLURM_CPUS:-$((REAL_CPUS > 4 ? REAL_CPUS : 4))}
# Leave some memory to the OS; jobs asking for more than the node has are never scheduled.
MEM=$((REAL_MEM * 9 / 10))

# Fake GPU devices: slurmd only needs a path per GPU to count them (no CUDA here).
for ((i = 0; i < GPUS; i++)); do : >"$STATE_DIR/dev/fakegpu$i"; done

{
    echo "ClusterName=tokattn-test"
    echo "SlurmctldHost=$NODE(127.0.0.1)"
    echo "SlurmctldPort=$CTLD_PORT"
    echo "SlurmdPort=$SLURMD_PORT"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    echo "AuthInfo=socket=$STATE_DIR/munge/munge.socket"
    echo "StateSaveLocation=$STATE_DIR/ctld"
    echo "SlurmdSpoolDir=$STATE_DIR/spool"
    echo "SlurmctldPidFile=$STATE_DIR/ctld/slurmctld.pid"
    echo "SlurmdPidFile=$STATE_DIR/spool/slurmd.pid"
    echo "SlurmctldLogFile=$STATE_DIR/log/slurmctld.log"
    echo "SlurmdLogFile=$STATE_DIR/log/slurmd.log"
    echo "SlurmctldDebug=info"
    echo "SlurmdDebug=info"
    # No cgroups in a container: track processes by parent PID, bind nothing.
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_CPU_Memory"
    echo "SchedulerType=sched/backfill"
    echo "GresTypes=gpu"
    # No slurmdbd: sacct cannot work, the Snakemake plugin polls squeue instead; squeue
    # only shows finished jobs for MinJobAge seconds, which must exceed 3x the plugin's
    # initial status delay or it falls back to sacct. A day, so that the tests can also
    # read every job of a long run back (partition, state, GPUs).
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "JobCompType=jobcomp/none"
    echo "MinJobAge=86400"
    echo "SlurmdParameters=config_overrides"
    echo "ReturnToService=2"
    echo "SlurmdTimeout=60"
    echo "InactiveLimit=0"
    echo "KillWait=5"
    echo "MpiDefault=none"
    echo "NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:$GPUS State=UNKNOWN"
    # Two partitions on the one node so tests can check that GPU rules land in `gpu`.
    echo "PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
    echo "PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP"
} >"$CONF"
if ((GPUS > 0)); then
    echo "NodeName=$NODE Name=gpu File=$STATE_DIR/dev/fakegpu[0-$((GPUS - 1))]" >"$STATE_DIR/gres.conf"
else
    : >"$STATE_DIR/gres.conf"
    sed -i "s/ Gres=gpu:0//" "$CONF"
fi
export SLURM_CONF=$CONF

# The Snakemake jobstep plugin strips every SLURM_* variable (SLURM_CONF included)
# before its inner `srun`, so clients inside a job read the default path. Point it at
# our config with a symlink that stop.sh removes; never replace a real cluster's file.
SYS_CONF=${TOKATTN_SLURM_SYSTEM_CONF:-/etc/slurm/slurm.conf}
if [[ -L $SYS_CONF || ! -e $SYS_CONF ]]; then
    mkdir -p "$(dirname "$SYS_CONF")"
    ln -sfn "$CONF" "$SYS_CONF"
    echo "$SYS_CONF" >"$STATE_DIR/system-conf-link"
elif ! cmp -s "$SYS_CONF" "$CONF"; then
    cannot_run "$SYS_CONF belongs to another SLURM installation; jobs would read it"
fi

# --- munge -------------------------------------------------------------------------
MUNGE="$STATE_DIR/munge"
mungekey --create --keyfile="$MUNGE/munge.key" --force 2>/dev/null \
    || { dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none && chmod 0400 "$MUNGE/munge.key"; }

# Each daemon runs in the foreground under setsid, so $! is the daemon itself and it
# survives the shell that started it (pytest's subprocess, a CI step).
launch() { # name, command...
    local name=$1
    shift
    setsid "$@" >"$STATE_DIR/log/$name.out" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDS/$name.pid"
}

T0=$(date +%s%N)
launch munged /usr/sbin/munged --foreground --force \
    --key-file="$MUNGE/munge.key" --socket="$MUNGE/munge.socket" \
    --pid-file="$MUNGE/munged.pid" --seed-file="$MUNGE/munged.seed" \
    --log-file="$STATE_DIR/log/munged.log"
for _ in $(seq 50); do [[ -S $MUNGE/munge.socket ]] && break; sleep 0.1; done
[[ -S $MUNGE/munge.socket ]] || {
    cat "$STATE_DIR/log/munged.out" "$STATE_DIR/log/munged.log" >&2 2>/dev/null || true
    log "munged did not start"
    exit 1
}

launch slurmctld /usr/sbin/slurmctld -D -i -f "$CONF"
launch slurmd /usr/sbin/slurmd -D -f "$CONF"

# --- wait for an idle node ---------------------------------------------------------
deadline=$(($(date +%s) + WAIT_S))
state=""
while (($(date +%s) < deadline)); do
    for name in munged slurmctld slurmd; do
        if ! alive "$name"; then
            tail -n 30 "$STATE_DIR/log/$name.out" "$STATE_DIR/log/$name.log" >&2 2>/dev/null || true
            log "$name exited during start-up (logs in $STATE_DIR/log)"
            TOKATTN_SLURM_LOCKED=1 "$(dirname "$0")/stop.sh" "$STATE_DIR" >&2 || true
            exit 1
        fi
    done
    state=$(sinfo -h -p cpu -o %t 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.2
done
if [[ $state != idle ]]; then
    log "node not idle after ${WAIT_S}s (state: '${state:-no answer}'); logs in $STATE_DIR/log"
    tail -n 30 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" >&2 2>/dev/null || true
    TOKATTN_SLURM_LOCKED=1 "$(dirname "$0")/stop.sh" "$STATE_DIR" >&2 || true
    exit 1
fi
ms=$((($(date +%s%N) - T0) / 1000000))
log "cluster up in $((ms / 1000)).$(printf %03d $((ms % 1000))) s" \
    "(node $NODE: $CPUS CPUs, ${MEM} MB, $GPUS fake GPUs; partitions cpu, gpu)"
take_lease
print_env
echo "export TOKATTN_SLURM_STARTED=1"
