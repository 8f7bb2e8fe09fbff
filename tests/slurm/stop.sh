#!/usr/bin/env bash
# Stop the test SLURM cluster that tests/slurm/start.sh started in STATE_DIR.
#
#   tests/slurm/stop.sh [STATE_DIR]          (default: $TOKATTN_SLURM_DIR)
#
# Cancels the jobs still in that cluster, then stops exactly the processes whose PIDs
# start.sh recorded in STATE_DIR/pids/ (checking each PID still runs the program it
# recorded, so a recycled PID is never signalled). Every wait is bounded. Safe to run
# twice; the state dir (config, logs) is left for reading.
set -uo pipefail

STATE_DIR=${1:-${TOKATTN_SLURM_DIR:-}}
if [[ -z $STATE_DIR ]]; then
    echo "stop.sh: name the cluster's state dir (argument or TOKATTN_SLURM_DIR)" >&2
    exit 2
fi
PIDS="$STATE_DIR/pids"
export SLURM_CONF="$STATE_DIR/slurm.conf"

# Job steps that outlived their slurmd (it was killed or crashed, so scancel could not
# reach them): each slurmstepd of this cluster (its environment names our SLURM_CONF,
# inherited from our slurmd) and every process under it.
kill_orphan_steps() {
    local proc exe stepds=() victims frontier children
    for proc in /proc/[0-9]*; do
        exe=$(readlink "$proc/exe" 2>/dev/null) || continue
        [[ $(basename "$exe") == slurmstepd* ]] || continue
        tr '\0' '\n' <"$proc/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" || continue
        stepds+=("${proc#/proc/}")
    done
    if ((${#stepds[@]})); then
        victims=("${stepds[@]}")
        frontier=("${stepds[@]}")
        while ((${#frontier[@]})); do
            # shellcheck disable=SC2207
            children=($(ps -eo pid=,ppid= | awk -v p=" ${frontier[*]} " 'index(p, " " $2 " ") {print $1}'))
            victims+=("${children[@]}")
            frontier=("${children[@]}")
        done
        echo "stop.sh: killing ${#stepds[@]} orphaned job step(s): PIDs ${victims[*]}" >&2
        kill -KILL "${victims[@]}" 2>/dev/null || true
    fi
}

[[ -d $PIDS ]] || {
    kill_orphan_steps
    exit 0
}

# Same lock as start.sh (which sets TOKATTN_SLURM_LOCKED when it calls us holding it).
if [[ -z ${TOKATTN_SLURM_LOCKED:-} ]]; then
    exec 9>"$STATE_DIR/lock"
    flock -w 60 9 || {
        echo "stop.sh: another start.sh/stop.sh has held $STATE_DIR/lock for 60 s" >&2
        exit 1
    }
fi

is_ours() { # name pid: the PID is alive and still runs /usr/sbin/<name>
    local exe
    exe=$(readlink "/proc/$2/exe" 2>/dev/null) || return 1
    [[ $(basename "$exe") == "$1"* ]]
}

# Jobs first, while slurmctld and slurmd can still clean up their job steps.
if [[ -f $PIDS/slurmctld.pid ]] && is_ours slurmctld "$(cat "$PIDS/slurmctld.pid")"; then
    jobs=$(timeout 10 /usr/bin/squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086
        timeout 10 /usr/bin/scancel $jobs 2>/dev/null || true
        for _ in $(seq 50); do
            # Without a slurmd the steps cannot end this way (killed below instead).
            [[ -f $PIDS/slurmd.pid ]] && is_ours slurmd "$(cat "$PIDS/slurmd.pid")" || break
            [[ -z $(timeout 5 /usr/bin/squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
fi

for name in slurmd slurmctld munged; do
    pidfile="$PIDS/$name.pid"
    [[ -f $pidfile ]] || continue
    pid=$(cat "$pidfile")
    if is_ours "$name" "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do
            is_ours "$name" "$pid" || break
            sleep 0.1
        done
        if is_ours "$name" "$pid"; then
            echo "stop.sh: $name ($pid) ignored SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
done
rmdir "$PIDS" 2>/dev/null || true
kill_orphan_steps
echo "stop.sh: stopped the test cluster in $STATE_DIR" >&2
