#!/usr/bin/env bash
# Start a throwaway single-node SLURM cluster for the integration tests.
#
#   tests/slurm/start.sh [STATE_DIR]        (default: a new /tmp/tokattn-slurm.XXXXXX)
#   eval "$(tests/slurm/start.sh)"          (exports SLURM_CONF, TOKATTN_SLURM_DIR,
#                                            TOKATTN_SLURM_CTLD_PORT and PATH)
#
# Every cluster is private to its STATE_DIR and its ports, so several can run on one
# machine (two pytest sessions, CI, a person's own cluster) without seeing each other:
# - STATE_DIR holds the config, the munge key and socket, spool, state, logs, and the
#   PIDs of the daemons; nothing outside it is written except the apt install.
# - Ports: slurmctld on TOKATTN_SLURM_PORT, slurmd on the next one. Unset: a free pair is
#   picked at random (and another if a daemon still loses the race for it); set: both
#   must be free, or start.sh exits 4 naming the process that holds them.
# - A cluster already running in STATE_DIR is never reused: exit 4, saying how to use
#   it (TOKATTN_SLURM_DIR=STATE_DIR, which the test fixture attaches to) or stop it.
# - Clients: STATE_DIR/bin holds srun, sbatch, squeue, ... wrappers that set SLURM_CONF
#   to this cluster's config; the printed PATH puts them first. Jobs inherit that PATH,
#   so the `srun` that the Snakemake jobstep plugin runs inside a job (after dropping
#   every SLURM_* variable, SLURM_CONF included) still talks to this cluster, never to
#   whatever /etc/slurm/slurm.conf names.
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge when they are missing,
# writes slurm.conf + gres.conf (fake GPUs, so `--gpus=N` schedules on a CPU-only node),
# starts munged, slurmctld and slurmd in the foreground as background processes of this
# script, records their PIDs in STATE_DIR/pids/, and waits (bounded) until the node is
# idle. tests/slurm/stop.sh stops exactly those PIDs.
#
# Exit status: 0 running; 3 cannot run here (not root, no packages and no apt; the test
# fixture skips, or fails under TOKATTN_REQUIRE_SLURM=1); 4 clash (a cluster already in
# STATE_DIR, TOKATTN_SLURM_PORT taken); 1 anything else (daemon logs on stderr).
#
# Partitions (the tests use all three): `cpu` (default) and `gpu` span the whole node;
# `small` is the same node capped at 2 CPUs and 4000 MB per job (MaxCPUsPerNode,
# MaxMemPerNode), standing in for a site whose nodes are smaller than the profile's
# grouped jobs.
#
# Environment knobs: TOKATTN_SLURM_GPUS (fake GPUs on the node, default 4),
# TOKATTN_SLURM_CPUS (CPUs advertised, default: the real count, at least 4),
# TOKATTN_SLURM_PORT (see above), TOKATTN_SLURM_WAIT_S (start-up limit, default 60).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
GPUS=${TOKATTN_SLURM_GPUS:-4}
FIXED_PORT=${TOKATTN_SLURM_PORT:-}
WAIT_S=${TOKATTN_SLURM_WAIT_S:-60}

log() { echo "start.sh: $*" >&2; }
cannot_run() {
    log "cannot start a SLURM cluster here: $*"
    # A state dir made for this call goes again (unless it holds the apt log named above).
    [[ -n ${MADE_DIR:-} && ! -e $STATE_DIR/apt.log ]] && rm -rf "$STATE_DIR"
    exit 3
}
clash() {
    log "clash: $*"
    exit 4
}

if [[ -n ${1:-} ]]; then
    mkdir -p "$1"
    STATE_DIR=$(cd "$1" && pwd)
else
    STATE_DIR=$(mktemp -d /tmp/tokattn-slurm.XXXXXX)
    MADE_DIR=1
fi
CONF="$STATE_DIR/slurm.conf"
PIDS="$STATE_DIR/pids"

# One start.sh/stop.sh at a time per state dir (fd 9; the daemons do not inherit it).
exec 9>"$STATE_DIR/lock"
flock -w 30 9 || clash "another start.sh/stop.sh has held $STATE_DIR/lock for 30 s"

alive() { # name: the recorded PID runs /usr/sbin/<name>
    local pid exe
    [[ -f "$PIDS/$1.pid" ]] || return 1
    pid=$(cat "$PIDS/$1.pid")
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    [[ $(basename "$exe") == "$1"* ]]
}

for name in munged slurmctld slurmd; do
    if alive "$name"; then
        clash "a test cluster is already running in $STATE_DIR ($name PID $(cat "$PIDS/$name.pid"));" \
            "use it with TOKATTN_SLURM_DIR=$STATE_DIR, stop it with tests/slurm/stop.sh $STATE_DIR," \
            "or start another in a new directory"
    fi
done

[[ $(id -u) -eq 0 ]] || cannot_run "needs root (slurmd runs jobs as the submitting user)"

# --- install -----------------------------------------------------------------------
missing=()
for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/srun /usr/sbin/munged /usr/sbin/mungekey; do
    [[ -x $bin ]] || missing+=("$bin")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || cannot_run "missing ${missing[*]} and no apt-get (Debian packages slurmctld slurmd slurm-client munge)"
    log "installing slurmctld slurmd slurm-client munge (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' maintainer scripts would start system-wide munged/slurmd services;
    # a policy-rc.d that denies every start keeps them off (removed again below).
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    if ! timeout 600 apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
        >"$STATE_DIR/apt.log" 2>&1; then
        timeout 300 apt-get update -qq >>"$STATE_DIR/apt.log" 2>&1 || true
        timeout 600 apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
            >>"$STATE_DIR/apt.log" 2>&1 || cannot_run "apt-get install failed (see $STATE_DIR/apt.log)"
    fi
    if [[ -n ${policy:-} ]] && [[ $(trap -p EXIT) ]]; then
        rm -f "$policy"
        trap - EXIT
    fi
fi

# --- ports -------------------------------------------------------------------------
port_owner() { # port: the listening socket's line from ss (process included), or nothing
    ss -Hltnp "sport = :$1" 2>/dev/null | head -n 1
}
pick_ports() { # sets CTLD_PORT, SLURMD_PORT
    if [[ -n $FIXED_PORT ]]; then
        CTLD_PORT=$FIXED_PORT
        SLURMD_PORT=$((FIXED_PORT + 1))
        for port in "$CTLD_PORT" "$SLURMD_PORT"; do
            owner=$(port_owner "$port")
            [[ -z $owner ]] || clash "TOKATTN_SLURM_PORT=$FIXED_PORT: port $port is in use ($owner);" \
                "unset TOKATTN_SLURM_PORT to pick free ports"
        done
        return
    fi
    for _ in $(seq 100); do
        CTLD_PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
        SLURMD_PORT=$((CTLD_PORT + 1))
        [[ -z $(port_owner "$CTLD_PORT") && -z $(port_owner "$SLURMD_PORT") ]] && return
    done
    log "no free pair of ports found in 20000-39999"
    exit 1
}

rm -rf "$STATE_DIR"/{ctld,spool,log,munge,pids,dev,bin}
mkdir -p "$STATE_DIR"/{ctld,spool,log,pids,dev,bin}
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
SMALL_MEM=$((MEM < 4000 ? MEM : 4000))

# Fake GPU devices: slurmd only needs a path per GPU to count them (no CUDA here).
for ((i = 0; i < GPUS; i++)); do : >"$STATE_DIR/dev/fakegpu$i"; done

write_conf() {
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
        echo "PlugStackConfig=$STATE_DIR/plugstack.conf"
        # No cgroups in a container: track processes by parent PID, bind nothing.
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_CPU_Memory"
        echo "SchedulerType=sched/backfill"
        echo "GresTypes=gpu"
        # No slurmdbd: sacct cannot work, the Snakemake plugin polls squeue instead;
        # squeue only shows finished jobs for MinJobAge seconds, which must exceed 3x the
        # plugin's initial status delay or it falls back to sacct. A day, so that the
        # tests can also read every job of a long run back (partition, state, GPUs).
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
        # Partitions on the one node: GPU rules must land in `gpu`; `small` is a site
        # whose nodes offer 2 CPUs and 4000 MB (see the header).
        echo "PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
        echo "PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP"
        echo "PartitionName=small Nodes=$NODE Default=NO MaxTime=INFINITE State=UP" \
            "MaxCPUsPerNode=2 MaxMemPerNode=$SMALL_MEM"
    } >"$CONF"
    if ((GPUS > 0)); then
        echo "NodeName=$NODE Name=gpu File=$STATE_DIR/dev/fakegpu[0-$((GPUS - 1))]" >"$STATE_DIR/gres.conf"
    else
        : >"$STATE_DIR/gres.conf"
        sed -i "s/ Gres=gpu:0//" "$CONF"
    fi
}
: >"$STATE_DIR/plugstack.conf"
export SLURM_CONF=$CONF

# Client wrappers (see the header): SLURM_CONF always names this cluster's config.
for client in srun sbatch squeue scontrol scancel sinfo salloc sstat; do
    [[ -x /usr/bin/$client ]] || continue
    printf '#!/bin/sh\nSLURM_CONF=%q exec /usr/bin/%s "$@"\n' "$CONF" "$client" >"$STATE_DIR/bin/$client"
    chmod +x "$STATE_DIR/bin/$client"
done

# A fixed port that is taken fails here, before any daemon starts.
pick_ports

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
stop_all() { TOKATTN_SLURM_LOCKED=1 "$HERE/stop.sh" "$STATE_DIR" >&2 || true; }

T0=$(date +%s%N)
launch munged /usr/sbin/munged --foreground --force \
    --key-file="$MUNGE/munge.key" --socket="$MUNGE/munge.socket" \
    --pid-file="$MUNGE/munged.pid" --seed-file="$MUNGE/munged.seed" \
    --log-file="$STATE_DIR/log/munged.log"
for _ in $(seq 50); do [[ -S $MUNGE/munge.socket ]] && break; sleep 0.1; done
[[ -S $MUNGE/munge.socket ]] || {
    cat "$STATE_DIR/log/munged.out" "$STATE_DIR/log/munged.log" >&2 2>/dev/null || true
    log "munged did not start"
    stop_all
    exit 1
}

# --- slurmctld + slurmd, waiting (bounded) for an idle node --------------------------
start_slurm() { # 0: node idle; 1: failed; 2: lost a port race (retry with new ports)
    pick_ports
    write_conf
    rm -f "$STATE_DIR"/log/slurm{ctld,d}.{log,out}
    launch slurmctld /usr/sbin/slurmctld -D -i -f "$CONF"
    launch slurmd /usr/sbin/slurmd -D -f "$CONF"
    local deadline=$(($(date +%s) + WAIT_S)) state="" name
    while (($(date +%s) < deadline)); do
        for name in slurmctld slurmd; do
            if ! alive "$name"; then
                if grep -qs "Address already in use" "$STATE_DIR/log/$name".{log,out}; then
                    log "$name: port taken meanwhile ($CTLD_PORT/$SLURMD_PORT)"
                    return 2
                fi
                tail -n 30 "$STATE_DIR/log/$name.out" "$STATE_DIR/log/$name.log" >&2 2>/dev/null || true
                log "$name exited during start-up (logs in $STATE_DIR/log)"
                return 1
            fi
        done
        state=$(timeout 10 sinfo -h -p cpu -o %t 2>/dev/null || true)
        [[ $state == idle ]] && return 0
        sleep 0.2
    done
    log "node not idle after ${WAIT_S}s (state: '${state:-no answer}'); logs in $STATE_DIR/log"
    tail -n 30 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" >&2 2>/dev/null || true
    return 1
}
stop_slurm() {
    local name pid
    for name in slurmd slurmctld; do
        [[ -f $PIDS/$name.pid ]] || continue
        pid=$(cat "$PIDS/$name.pid")
        alive "$name" && kill -KILL "$pid" 2>/dev/null
        for _ in $(seq 50); do alive "$name" || break; sleep 0.1; done
        rm -f "$PIDS/$name.pid"
    done
    rm -rf "$STATE_DIR"/{ctld,spool}/*
}

for attempt in 1 2 3; do
    rc=0
    start_slurm || rc=$?
    ((rc == 0)) && break
    stop_slurm
    if ((rc != 2)) || [[ -n $FIXED_PORT ]] || ((attempt == 3)); then
        stop_all
        ((rc == 2)) && clash "port $CTLD_PORT or $SLURMD_PORT taken by another process"
        exit 1
    fi
done

ms=$((($(date +%s%N) - T0) / 1000000))
log "cluster up in $((ms / 1000)).$(printf %03d $((ms % 1000))) s in $STATE_DIR" \
    "(node $NODE: $CPUS CPUs, ${MEM} MB, $GPUS fake GPUs; partitions cpu, gpu, small;" \
    "ports $CTLD_PORT/$SLURMD_PORT)"
echo "export SLURM_CONF=$CONF"
echo "export TOKATTN_SLURM_DIR=$STATE_DIR"
echo "export TOKATTN_SLURM_CTLD_PORT=$CTLD_PORT"
printf 'export PATH=%q\n' "$STATE_DIR/bin:$PATH"
