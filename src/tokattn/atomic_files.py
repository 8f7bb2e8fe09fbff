"""Atomic outputs: a temp file (or folder) beside the target, then a rename.

A result is complete or absent, and it gets the mode a plain `open()` would give it
(0666 less the user's umask for files, 0777 less the umask for folders): `mkstemp`
creates 0600 files, and that mode would otherwise survive the rename, so a copied or
web-served report would not open for anyone else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


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
