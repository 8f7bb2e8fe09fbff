# Lines for .ci/run: a real single-node SLURM cluster for tests/slurm/ (marker `slurm`).
# Put them after the lint block and before the pytest line. start.sh installs Debian's
# slurmctld slurmd slurm-client munge if missing (root + apt), starts the daemons in a
# new state dir on free ports and waits (bounded) for an idle node (~1-6 s); the eval
# exports TOKATTN_SLURM_DIR, so the `slurm_cluster` fixture uses this cluster instead of
# starting its own; TOKATTN_REQUIRE_SLURM=1 turns the fixture's "cannot run here" skip
# into a failure; the trap stops exactly the PIDs start.sh recorded.
# The assignment (not `eval "$(...)"`) makes `set -e` stop CI when the cluster fails.

echo "== test SLURM cluster"
slurm_env=$(tests/slurm/start.sh)
eval "$slurm_env"
trap 'tests/slurm/stop.sh "$TOKATTN_SLURM_DIR" && rm -rf "$TOKATTN_SLURM_DIR"' EXIT
export TOKATTN_REQUIRE_SLURM=1

# ...then the existing test line runs tests/slurm/ too (it is under `testpaths`):
#   python -m pip install -e '.[test]' && python -m pytest
# or, to run only the cluster tests:
#   python -m pytest -m slurm tests/slurm
