"""Training checkpoints: one atomic file holding everything a resumed run needs.

`last.pt` in a run's checkpoint directory is a `torch.save` dict:

    format_version   int
    fingerprint      sha256 of everything that decides the weights (see `run_fingerprint`)
    step             optimizer steps done
    sequences_done   data position: sequence numbers < this were consumed (packing.py)
    tokens_seen, bytes_seen, flops   accounting so far (valid targets only)
    model            state dict, '_orig_mod.' / 'module.' prefixes stripped
    optimizer, scheduler             their state dicts
    rng              python, numpy, torch CPU and CUDA generator states
    log_rows         train_log.csv rows so far
    best_val_loss    lowest validation loss so far
    config           the resolved run config (arm spec, training options, seed, data)

It is written to a temporary name unique to the writing process, fsynced, read back
(a file that does not load is never installed), and only then renamed over `last.pt`;
the checkpoint it replaces is kept as `prev.pt`. A crash at any moment leaves at least
one loadable checkpoint, and `load_checkpoint` falls back to `prev.pt`, with a warning
naming the file, when `last.pt` is missing or does not load (e.g. truncated by a full
disk or a copy).

`RunLock` keeps two trainers off one run directory: the second refuses to start.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import random
import socket
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from tokattn.common.atomic_files import umask_mode

FORMAT_VERSION = 1
CHECKPOINT_NAME = "last.pt"
PREVIOUS_NAME = "prev.pt"
LOCK_NAME = ".train.lock"
_TMP_PREFIX = f".{CHECKPOINT_NAME}."
_TMP_SUFFIX = ".tmp"


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected; the message names the files."""


class RunLockedError(RuntimeError):
    """Another live trainer holds the run directory's lock."""


# Training options that change logging or speed but never the weights; a checkpoint made
# under other values of these may be resumed.
NON_WEIGHT_OPTIONS = frozenset(
    {
        "eval_interval",
        "eval_bytes",
        "checkpoint_interval",
        "log_interval",
        "tensorboard",
        "compile",
        "micro_batch_size",
        "peak_tflops",
        "device",
    }
)


def run_fingerprint(config: Mapping) -> str:
    """Return a sha256 over the parts of a resolved run config that decide the weights."""
    relevant = dict(config)
    relevant["training"] = {
        k: v for k, v in config["training"].items() if k not in NON_WEIGHT_OPTIONS
    }
    blob = json.dumps(relevant, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Return a state dict without torch.compile ('_orig_mod.') or DDP ('module.') prefixes."""
    out = {}
    for key, value in state.items():
        for prefix in ("_orig_mod.", "module."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        out[key.replace("._orig_mod.", ".")] = value
    return out


def capture_rng() -> dict:
    """Return the state of every random generator a run may touch."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping) -> None:
    """Restore generator states saved by `capture_rng`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory
    finally:
        os.close(fd)


def _read(path: Path, map_location) -> dict:
    # weights_only=False: the file holds numpy RNG state and plain Python objects written
    # by this code, not an untrusted download.
    state = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(state, dict) or "step" not in state or "model" not in state:
        raise CheckpointError(f"checkpoint {path}: not a tokattn checkpoint")
    return state


def save_checkpoint(state: dict, directory: str | Path) -> Path:
    """Write `state` to directory/last.pt and return the path.

    The file is written under a name unique to this process, fsynced and loaded back
    before it replaces last.pt; the replaced checkpoint becomes prev.pt.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT_NAME
    fd, tmp_name = tempfile.mkstemp(
        dir=directory, prefix=f"{_TMP_PREFIX}{os.getpid()}.", suffix=_TMP_SUFFIX
    )
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, umask_mode())  # mkstemp's 0600 would survive the rename
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format_version": FORMAT_VERSION, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # mmap: the archive's structure and every record are read, the tensor data
            # is only mapped, so verifying costs little even for a large model.
            written = torch.load(tmp, map_location="cpu", weights_only=False, mmap=True)
        except Exception as exc:
            raise CheckpointError(
                f"checkpoint {tmp} does not load back after writing ({type(exc).__name__}: "
                f"{exc}); {path} was left as it was"
            ) from exc
        if written.get("step") != state.get("step"):
            raise CheckpointError(f"checkpoint {tmp} reads back a different step")
        del written
        if path.exists():
            os.replace(path, directory / PREVIOUS_NAME)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    return path


def load_checkpoint(directory: str | Path, map_location: str | torch.device = "cpu") -> dict | None:
    """Return the newest loadable checkpoint in `directory`, or None when there is none.

    Falls back from last.pt to prev.pt (with a warning naming the file and the error) when
    last.pt is missing or does not load; raises CheckpointError naming the files when
    checkpoints exist but none loads.
    """
    directory = Path(directory)
    candidates = [directory / CHECKPOINT_NAME, directory / PREVIOUS_NAME]
    existing = [path for path in candidates if path.exists()]
    if not existing:
        return None
    failures = []
    for path in existing:
        try:
            state = _read(path, map_location)
        except Exception as exc:  # truncated, zeroed or not a checkpoint at all
            failures.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        if failures or path.name != CHECKPOINT_NAME:
            reason = "; ".join(failures) or f"{candidates[0]} is missing"
            warnings.warn(
                f"checkpoint {candidates[0]} is not usable ({reason}); resuming from the "
                f"previous checkpoint {path} (step {state['step']})",
                stacklevel=2,
            )
        if state.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"checkpoint {path} has format {state.get('format_version')}, expected "
                f"{FORMAT_VERSION}; delete it to start over"
            )
        state["model"] = strip_wrapper_prefixes(state["model"])
        return state
    raise CheckpointError(
        "no checkpoint of this run loads: "
        + "; ".join(failures)
        + f". Delete {directory} to start the run over."
    )


def load_checkpoint_step(directory: str | Path) -> int | None:
    """Return the step of the checkpoint `load_checkpoint` would resume from, or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state = load_checkpoint(directory)
        except (CheckpointError, ValueError):
            return None
    return None if state is None else int(state["step"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    """An exclusive lock on one run's checkpoint directory, held while a trainer runs.

    The lock is `flock` on directory/.train.lock, which the kernel releases when the
    holder dies (kill -9 included), so a stale file of a dead trainer is simply taken
    over. The file records the holder's pid, host and start time for the error message.
    Where the filesystem has no flock, a recorded pid that is not alive on this host is
    taken over instead.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another process"
        return (
            f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started', '?')}"
        )

    def _refuse(self) -> None:
        raise RunLockedError(
            f"another trainer ({self._holder()}) is training this run: {self.path} is "
            "locked. Two trainers would overwrite each other's checkpoints; wait for it or "
            "stop it (if it is an orphan of a killed Snakemake, kill that pid)."
        )

    def acquire(self) -> RunLock:
        """Take the lock or raise RunLockedError naming the holder; return self."""
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse()
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    os.close(fd)
                    raise
                self._check_pid_without_flock(fd)
            # The holder before us may have unlinked the file between our open and flock:
            # then we locked an orphaned inode and must start again.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        for name in os.listdir(self.directory):
            # Temp files of writers that died mid-save: no live writer holds them now.
            if name.startswith(_TMP_PREFIX) and name.endswith(_TMP_SUFFIX):
                (self.directory / name).unlink(missing_ok=True)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._fd = fd
        return self

    def _check_pid_without_flock(self, fd: int) -> None:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        except ValueError:
            info = {}
        pid, host = info.get("pid"), info.get("host")
        if pid and pid != os.getpid() and (host != socket.gethostname() or _pid_alive(pid)):
            os.close(fd)
            self._refuse()

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
