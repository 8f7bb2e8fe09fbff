"""Atomic outputs: a temp file (or folder) beside the target, then a rename.

A result is complete or absent, and it gets the mode a plain `open()` would give it
(0666 less the user's umask for files, 0777 less the umask for folders): `mkstemp`
creates 0600 files, and that mode would otherwise survive the rename, so a copied or
web-served report would not open for anyone else.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def umask_mode(mode: int = 0o666) -> int:
    """Return `mode` less the process umask: the mode `open()`/`mkdir()` would create."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def temp_file_beside(path: str | Path, suffix: str = ".tmp") -> tuple[int, Path]:
    """Create a unique hidden temp file next to `path` with a plain file's mode; return (fd, path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-", suffix=suffix)
    try:
        os.fchmod(fd, umask_mode())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, Path(tmp)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` through a unique temp file and a rename; return the path."""
    path = Path(path)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def publish_dir(tmp_dir: str | Path, out_dir: str | Path) -> Path:
    """Move the finished folder `tmp_dir` to `out_dir` (replacing it); return `out_dir`.

    Everything inside gets a plain file's or folder's mode first: some writers (temp file
    + rename, `mkdtemp`) leave 0600 files or 0700 folders behind.
    """
    tmp_dir, out_dir = Path(tmp_dir), Path(out_dir)
    file_mode, dir_mode = umask_mode(0o666), umask_mode(0o777)
    tmp_dir.chmod(dir_mode)
    for root, dirs, files in os.walk(tmp_dir):
        for name in dirs:
            os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            os.chmod(os.path.join(root, name), file_mode)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp_dir, out_dir)
    return out_dir


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
