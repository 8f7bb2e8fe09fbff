#!/usr/bin/env bash
# Stop the test SLURM cluster started by tests/slurm/start.sh.
#
#   tests/slurm/stop.sh [STATE_DIR]                 stop it
#   tests/slurm/stop.sh --release LEASE [STATE_DIR] give up a lease (start.sh's
#                                                   TOKATTN_SLURM_LEASE); stop only if no
#                                                   live lease is left and a lease-holder
#                                                   started the cluster
# STATE_DIR defaults to $TOKATTN_SLURM_DIR or /tmp/tokattn-slurm.
#
# Cancels the jobs still in that cluster, then stops exactly the processes whose PIDs
# start.sh recorded in STATE_DIR/pids/ (checking each PID still runs the program it
# recorded, so a recycled PID is never signalled). Safe to run twice.
set -uo pipefail

RELEASE=""
if [[ ${1:-} == --release ]]; then
    RELEASE=${2:?--release needs a lease name}
    shift 2
fi
STATE_DIR=${1:-${TOKATTN_SLURM_DIR:-/tmp/tokattn-slurm}}
PIDS="$STATE_DIR/pids"
LEASES="$STATE_DIR/leases"
[[ -d $PIDS ]] || exit 0
export SLURM_CONF="$STATE_DIR/slurm.conf"

# Same lock as start.sh (which sets TOKATTN_SLURM_LOCKED when it calls us holding it).
if [[ -z ${TOKATTN_SLURM_LOCKED:-} ]]; then
    exec 9>"$STATE_DIR/lock"
    flock -w 600 9 || {
        echo "stop.sh: another start.sh/stop.sh holds $STATE_DIR/lock" >&2
        exit 1
    }
fi

if [[ -n $RELEASE ]]; then
    rm -f "$LEASES/$RELEASE"
    # A lease named by a PID that no longer runs belongs to a session that died.
    live=()
    for lease in "$LEASES"/*; do
        [[ -e $lease ]] || continue
        name=$(basename "$lease")
        if [[ $name =~ ^[0-9]+$ ]] && ! kill -0 "$name" 2>/dev/null; then
            rm -f "$lease"
        else
            live+=("$name")
        fi
    done
    if ((${#live[@]})); then
        echo "stop.sh: cluster in $STATE_DIR still leased by ${live[*]}; left running" >&2
        exit 0
    fi
    if [[ ! -e $STATE_DIR/started-for-lease ]]; then
        echo "stop.sh: cluster in $STATE_DIR was not started for a lease; left running" >&2
        exit 0
    fi
fi
rm -f "$STATE_DIR/started-for-lease"

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
# The /etc/slurm/slurm.conf symlink start.sh made (only if it still points at us).
if [[ -f $STATE_DIR/system-conf-link ]]; then
    link=$(cat "$STATE_DIR/system-conf-link")
    [[ -L $link && $(readlink "$link") == "$SLURM_CONF" ]] && rm -f "$link"
    rm -f "$STATE_DIR/system-conf-link"
fi
echo "stop.sh: stopped the test cluster in $STATE_DIR" >&2
