"""Filesystem helpers: artifacts are written to a temporary sibling and renamed into place only on success."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator


class OutputExistsError(FileExistsError):
    pass


def _current_umask() -> int:
    umask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(umask)
    return umask


def _owner_tag() -> str:
    """``<pid>@<host>``: written into temp sibling names so a later run can tell a dead writer's leftovers."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _writer_is_dead(tag: str) -> bool:
    """True only for a writer on this host whose process no longer exists (anything else is left alone)."""
    pid, _, host = tag.partition("@")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: the process exists (another user's)
        return False
    return False


def remove_stale_siblings(target: str | os.PathLike) -> list[Path]:
    """Remove what killed writers of ``target`` left next to it; returns the removed paths.

    ``atomic_directory`` names its temp siblings ``.<name>.tmp-<pid>@<host>-XXXX`` (and, while replacing an existing
    artifact, ``.<name>.old-<pid>@<host>-XXXX``). Loaders only ever open ``target`` itself, so a leftover is never
    taken for an artifact; it only wastes space. A leftover is removed when its writer is a dead process of this host
    (a live writer, or one on another host sharing the filesystem, is never touched). A writer killed between its two
    renames leaves the previous artifact in its ``.old-`` sibling and nothing at ``target``: that artifact is put back.
    """
    target = Path(target).absolute()
    removed = []
    if not target.parent.is_dir():
        return removed
    for kind in ("old", "tmp"):  # "old" first: restoring a previous artifact must precede any decision on target
        prefix = f".{target.name}.{kind}-"
        for sibling in sorted(target.parent.glob(f"{glob.escape(prefix)}*")):
            tag = sibling.name[len(prefix):].rpartition("-")[0]  # mkdtemp's random suffix has no "-"
            if not sibling.is_dir() or not _writer_is_dead(tag):
                continue
            if kind == "old" and not target.exists() and (sibling / target.name).is_dir():
                os.replace(sibling / target.name, target)
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; rename it to ``path`` when the block succeeds.

    On any exception the temporary directory is removed, so a half-written artifact never exists at ``path``; a
    process killed outright (SIGKILL) leaves its temp sibling, which the next write of ``path`` removes
    (``remove_stale_siblings``). With ``overwrite=False`` an existing ``path`` is an error (raised before any work is
    done).
    """
    target = Path(path).absolute()
    remove_stale_siblings(target)
    if target.exists() and not target.is_dir():
        # Even with overwrite: replacing a user's file by a directory would destroy it.
        raise OutputExistsError(
            f"output directory {target} is an existing file, not a directory; choose another output path"
        )
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputExistsError(f"cannot create output directory {target}: {parent} is a file")
            break
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"output directory {target} already exists; choose another path or pass overwrite=True (--overwrite)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{_owner_tag()}-", dir=target.parent))
    # mkdtemp makes the directory private (0700); give the artifact the permissions a plain mkdir would.
    os.chmod(tmp, 0o777 & ~_current_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if target.exists():
        # Move the old one aside first so that a crash between the two renames still leaves a complete directory.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{_owner_tag()}-", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False)
            fh.write("\n")
        # mkstemp creates 0600 files; give the result the permissions an ordinary open() would.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
