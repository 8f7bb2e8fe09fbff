#!/usr/bin/env bash
# Stop the test SLURM cluster started by tests/slurm/start.sh.
#
#   tests/slurm/stop.sh [STATE_DIR]         (default: $TOKATTN_SLURM_DIR or /tmp/tokattn-slurm)
#
# Cancels the jobs still in that cluster, then stops exactly the processes whose PIDs
# start.sh recorded in STATE_DIR/pids/ (checking each PID still runs the program it
# recorded, so a recycled PID is never signalled). Safe to run twice.
set -uo pipefail

STATE_DIR=${1:-${TOKATTN_SLURM_DIR:-/tmp/tokattn-slurm}}
PIDS="$STATE_DIR/pids"
[[ -d $PIDS ]] || exit 0
export SLURM_CONF="$STATE_DIR/slurm.conf"

is_ours() { # name pid: the PID is alive and still runs /usr/sbin/<name>
    local exe
    exe=$(readlink "/proc/$2/exe" 2>/dev/null) || return 1
    [[ $(basename "$exe") == "$1"* ]]
}

# Jobs first, while slurmctld and slurmd can still clean up their job steps.
if [[ -f $PIDS/slurmctld.pid ]] && is_ours slurmctld "$(cat "$PIDS/slurmctld.pid")"; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(timeout 5 squeue -h -t RUNNING,COMPLETING -o %i 2>/dev/null) ]] && break
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
echo "stop.sh: stopped the test cluster in $STATE_DIR" >&2
