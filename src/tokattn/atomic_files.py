"""Atomic output: a temp file beside the target, then a rename (complete or absent)."""

from __future__ import annotations

import errno
import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` through a unique temp file and a rename; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def is_disk_full(exc: BaseException) -> bool:
    """Return whether a write error means the disk (or quota) is full."""
    # numpy's tofile reports a short write as "N requested and M written", without errno;
    # h5py raises RuntimeError or ValueError too, with the system's message inside.
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
        s in str(exc) for s in ("No space left", "requested and")
    )


def write_failure(exc: BaseException, path: Path, temp_paths: list[Path]) -> OSError:
    """Return a clear OSError for a failed write of `path` whose `temp_paths` were removed."""
    temps = ", ".join(p.name for p in temp_paths)
    detail = (str(exc).splitlines() or [""])[0][:200]  # HDF5's messages run to many lines
    if is_disk_full(exc):
        try:
            free = f"{shutil.disk_usage(path.parent).free} bytes free"
        except OSError:
            free = "free space unknown"
        return OSError(
            errno.ENOSPC,
            f"{path}: disk full while writing ({free}; {detail}); temp files removed ({temps}) "
            "— free space and rerun",
        )
    return OSError(
        getattr(exc, "errno", None),
        f"{path}: write failed ({detail}); temp files removed ({temps})",
    )


def pid_alive(pid: int) -> bool:
    """Return whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Delete `.{name}.tmp-{pid}` files beside `path` whose process is gone; return them.

    A job killed with SIGKILL cannot remove its temp file. Only one job writes a given
    output at a time (Snakemake locks it), so a temp file of the same target whose writer
    no longer runs is a leftover; one of a live process on this host is kept.
    """
    path = Path(path)
    removed = []
    prefix = f".{path.name}.tmp-"
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*"):
        pid = tmp.name[len(prefix) :]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
            log.warning("removed %s, left by a killed job (process %s)", tmp, pid)
    return removed
