"""Safe file writes: atomic, with OS errors as one-line user errors, and an exclusive folder.

Each writer writes to a temporary file in the destination folder and renames it into place
(``os.replace`` is atomic on one filesystem), so an interrupted study leaves either the old file
or the new one, never a truncated one, and no temporary file survives an error. An operating
system's refusal (no space left, permission denied, a read-only filesystem, a path under a
file) becomes a :class:`~ctxvec.errors.CtxvecError` that names the path and what to do.
:func:`exclusive` holds a folder for one study at a time.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ctxvec.errors import CtxvecError

LOCK_NAME = ".ctxvec.lock"
# The name of a temporary file: ".<final name>.tmp<pid>-<random><suffix>".
_TEMPORARY = re.compile(r"\..+\.tmp(\d+)-.+")
# What to do about each refusal of the operating system.
_ADVICE = {
    errno.ENOSPC: "no space left on the device; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exceeded; free some space or write elsewhere",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "operation not permitted; choose a folder you can write to",
    errno.EROFS: "the filesystem is read-only; choose a writable folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EEXIST: "a part of the path is a file, not a folder; choose another path",
}


def os_error(error: OSError, path: str | Path) -> CtxvecError:
    """A one-line user error for an OS refusal to write ``path`` (the caller raises it)."""
    advice = _ADVICE.get(error.errno)
    if advice is None:
        advice = f"{error.strerror or type(error).__name__}; check the path"
    return CtxvecError(f"cannot write '{path}': {advice} (--out / --cache-dir)")


def make_folder(folder: str | Path) -> Path:
    """Create ``folder`` and its parents if needed."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:  # the folder's name is taken by a file
        raise os_error(OSError(errno.ENOTDIR, e.strerror), folder) from None
    except OSError as e:
        raise os_error(e, folder) from None
    return folder


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.tmp{os.getpid()}-", suffix=path.suffix, dir=path.parent
        )
    except OSError as e:
        raise os_error(e, path) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files private; results are meant to be shared
        os.replace(tmp, path)
    except OSError as e:
        raise os_error(e, path) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writers killed mid-write (``kill -9``, a power cut) left
    in ``folder``: those whose writing process is gone. Returns what was deleted."""
    removed = []
    for path in Path(folder).glob(".*.tmp*-*"):
        match = _TEMPORARY.fullmatch(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: object) -> None:
    """Write strict JSON: NaN and infinities become ``null``."""
    text = json.dumps(
        _finite(obj), indent=2, ensure_ascii=False, default=_jsonable, allow_nan=False
    )
    write_text(path, text + "\n")


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_with(path: str | Path, save: Callable[[Path], None]) -> None:
    """Write through any saver that takes a path (e.g. ``figure.savefig``)."""
    with atomic_path(path) as tmp:
        save(tmp)


# The folders this process holds (exclusive), so that holding one again does not lock it out.
_HELD: set[Path] = set()


@contextmanager
def exclusive(folder: str | Path, what: str = "output folder") -> Iterator[Path]:
    """Hold ``folder`` for this process until exit; if another process holds it, stop at once.

    The hold is an advisory lock on ``folder/.ctxvec.lock`` (``flock``), which the operating
    system releases when the process ends, however it ends: a study killed with ``kill -9``
    never leaves its folder locked. The lock file itself stays (removing it would race with a
    process about to lock it). Without ``fcntl`` (Windows) folders are not locked. A process
    that already holds ``folder`` holds it again at once (the command line takes the lock before
    it imports the study, which takes it too).
    """
    folder = make_folder(folder)
    key = folder.resolve()
    try:
        import fcntl
    except ImportError:
        yield folder
        return
    if key in _HELD:
        yield folder
        return
    lock = folder / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise os_error(e, lock) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise CtxvecError(
                f"{what} '{folder}' is in use by another study (process {holder}); wait "
                "for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _HELD.add(key)
        try:
            yield folder
        finally:
            _HELD.discard(key)
    finally:
        os.close(fd)  # releases the lock


def _finite(obj: object) -> object:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and not hasattr(obj, "__len__"):  # numpy scalars
        return _finite(obj.item())
    return obj


def _jsonable(obj: object) -> object:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
