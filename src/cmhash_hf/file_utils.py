"""Small file helpers shared by every module that writes to disk: every write is atomic, multi-file writes too.

- `atomic_write_bytes` / `atomic_write_text`: one file, through a temporary file and an atomic rename.
- `atomic_folder`: a folder whose files are all written together (an index): the new folder is written beside
  the old one and switched in with one rename, so a failure part-way (disk full, a killed process) leaves the old
  folder exactly as it was.
- `staged_files`: several files that join a folder holding other files (a model save inside a run folder): all
  are written and synced in a hidden staging folder first, then renamed into place one after another (renames
  take no disk space, so a full disk fails before anything is touched).
- `checksums` / `write_checksum_manifest` / `verify_checksum_manifest`: a small ``checksums.json`` of SHA-256
  digests, written last, that readers check to catch altered or mismatched files.
- `disk_errors`: turns "no space left on device" into one clear `OSError` naming the path.
- `folder_lock`: one writer per folder (a second process gets an error naming the first one).

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_text(root / "out.txt", "hello").read_text()
    'hello'
    >>> with atomic_folder(root / "index") as staging:
    ...     _ = atomic_write_text(staging / "a.txt", "new a")
    ...     _ = atomic_write_text(staging / "b.txt", "new b")
    >>> sorted(p.name for p in (root / "index").iterdir())
    ['a.txt', 'b.txt']
    >>> with atomic_folder(root / "index") as staging:  # a failure part-way changes nothing
    ...     _ = atomic_write_text(staging / "a.txt", "newer a")
    ...     raise OSError("disk full")
    Traceback (most recent call last):
    ...
    OSError: disk full
    >>> (root / "index" / "a.txt").read_text(), sorted(p.name for p in root.iterdir())
    ('new a', ['index', 'out.txt'])
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Name of the checksum manifest written last into a folder (see `write_checksum_manifest`).
CHECKSUM_FILE = "checksums.json"
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DiskFullError(OSError):
    """No space left on the disk (or quota) while writing a path; the message names the path."""


def disk_full_error(path: str | os.PathLike) -> DiskFullError:
    """The error every writer raises when the disk is full: it names the path and says nothing earlier changed."""
    error = DiskFullError(
        f"No space left on the disk holding {path}: free some space and run again "
        "(the files that were there before this write are unchanged)."
    )
    error.errno = errno.ENOSPC
    return error


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn a "no space left on device" (or quota) `OSError` raised inside the block into `disk_full_error`.

    Nested blocks name the outermost path (the destination a user asked for, not a hidden staging folder).

    Example:
        >>> with disk_errors("/data/run"):
        ...     raise OSError(errno.ENOSPC, "No space left on device")
        Traceback (most recent call last):
        ...
        cmhash_hf.file_utils.DiskFullError: No space left on the disk holding /data/run: free some space and run again (the files that were there before this write are unchanged).
    """
    try:
        yield
    except OSError as err:
        if err.errno in _DISK_FULL:
            raise disk_full_error(path) from (err.__cause__ if isinstance(err, DiskFullError) else err)
        raise
    except Exception as err:  # torch.save and safetensors report a full disk as RuntimeError / their own error
        if disk_looks_full(path, err):
            raise disk_full_error(path) from err
        raise


#: A write that fails while less than this is free on its disk is reported as a full disk.
DISK_FULL_MARGIN = 16 * 2**20


def disk_looks_full(path: str | os.PathLike, err: BaseException | None = None) -> bool:
    """Whether a failed write to ``path`` is best explained by a full disk: the error says so, or almost nothing
    is free on the disk holding it (libraries that write through C++ or Rust do not always keep ``ENOSPC``)."""
    text = str(err or "")
    if "No space left" in text or "os error 28" in text or "Disk quota exceeded" in text:
        return True
    existing = Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return shutil.disk_usage(existing).free < DISK_FULL_MARGIN
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    A crash midway leaves the previous file (if any) untouched; a full disk raises `disk_full_error`.
    """
    path = Path(path)
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o666 & ~_current_umask())
            os.replace(tmp_name, path)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _sync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(folder)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.ENOTSUP):  # file system without exchange
        return False
    raise OSError(code, f"Could not switch {a} into place at {b}: {os.strerror(code)}")


def replace_folder(new: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Put folder ``new`` at ``target`` in one step; the old ``target`` (if any) is removed afterwards.

    On Linux the two folders are exchanged atomically, so a reader sees the old folder or the new one, never a
    mix or nothing. Elsewhere the old folder is renamed aside first (a reader may briefly find nothing).
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.rename(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
    else:
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        os.rename(target, aside / target.name)
        os.rename(new, target)
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(target.parent)
    return target


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; when the block ends without error, it becomes ``target``.

    Write every file of the folder into the staging folder. If the block raises (disk full, bad input) or the
    process is killed, ``target`` keeps its old files; the hidden staging folder is removed (after a kill it
    stays as ``.NAME.*.new`` beside the target, and the next write removes it).
    """
    target = Path(target)
    if target.is_file():
        raise ValueError(f"{target} is a file; a folder is written there.")
    with disk_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in target.parent.glob(f".{target.name}.*.new"):  # left by a killed writer
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".new"))
        try:
            yield staging
            staging.chmod(0o777 & ~_current_umask())
            _sync_tree(staging)
            replace_folder(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


@contextlib.contextmanager
def staged_files(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``folder``; when the block ends without error, every file written
    there (sub-folders included) is moved to the same place in ``folder``, replacing the old one.

    All bytes are written and synced before the first old file is replaced, so a full disk or an error in the
    block leaves ``folder`` as it was. Files of ``folder`` not written in the block are kept.
    """
    folder = Path(folder)
    with disk_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".staging-*"):  # left by a killed writer
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
        try:
            yield staging
            _sync_tree(staging)
            files = sorted((p for p in staging.rglob("*") if p.is_file()), key=lambda p: (p.name == CHECKSUM_FILE, p))
            for path in files:  # a checksum manifest goes last: it vouches for files already in place
                destination = folder / path.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(path, 0o666 & ~_current_umask())
                os.replace(path, destination)
            _fsync_dir(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksum_manifest(folder: str | os.PathLike, names: Iterable[str]) -> Path:
    """Write ``checksums.json`` ({file name: SHA-256}) for ``names`` in ``folder`` (existing ones only).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "w.bin").write_bytes(b"abc")
        >>> json.loads(write_checksum_manifest(folder, ["w.bin"]).read_text())["files"]["w.bin"][:12]
        'ba7816bf8f01'
        >>> verify_checksum_manifest(folder, ["w.bin"])
        >>> _ = (folder / "w.bin").write_bytes(b"abd")
        >>> verify_checksum_manifest(folder, ["w.bin"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        OSError: ...w.bin does not match the checksum recorded in ...checksums.json when it was saved: the file was altered or damaged (or only part of a save was copied); save or download it again.
    """
    folder = Path(folder)
    files = {name: sha256_file(folder / name) for name in sorted(names) if (folder / name).is_file()}
    return atomic_write_text(folder / CHECKSUM_FILE, json.dumps({"algorithm": "sha256", "files": files}, indent=1))


def read_checksum_manifest(path: str | os.PathLike) -> dict[str, str]:
    """The {file name: digest} of a ``checksums.json``; `OSError` naming the file when it cannot be read."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if manifest.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise ValueError("not a sha256 manifest")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise OSError(f"{path} is not a valid checksum manifest ({err}); save the folder again.") from None
    return {str(k): str(v) for k, v in files.items()}


def verify_checksum_manifest(
    folder: str | os.PathLike, names: Iterable[str] | None = None, manifest_path: str | os.PathLike | None = None,
    paths: dict[str, str | os.PathLike] | None = None,
) -> None:
    """Check the files listed in a folder's ``checksums.json`` (those among ``names`` when given).

    ``paths`` maps a file name to where it actually is (e.g. a Hub cache). Nothing happens when the manifest is
    absent (folders saved before manifests existed). Raises `OSError` naming the first file that disagrees.
    """
    folder = Path(folder)
    manifest_path = Path(manifest_path) if manifest_path else folder / CHECKSUM_FILE
    if not manifest_path.is_file():
        return
    recorded = read_checksum_manifest(manifest_path)
    wanted = None if names is None else set(names)
    for name, digest in recorded.items():
        if wanted is not None and name not in wanted:
            continue
        path = Path((paths or {}).get(name, folder / name))
        if not path.is_file():
            raise OSError(f"{path} is missing but {manifest_path} lists it: the save is incomplete; save it again.")
        if sha256_file(path) != digest:
            raise OSError(
                f"{path} does not match the checksum recorded in {manifest_path} when it was saved: the file was "
                "altered or damaged (or only part of a save was copied); save or download it again."
            )


#: The lock file a command holds inside a folder while it writes there (see `folder_lock`).
LOCK_FILE = ".cmhash.lock"
_HELD_LOCKS: dict[Path, int] = {}


class FolderInUseError(OSError):
    """Another process holds the folder's lock."""


def _lock_holder(path: Path) -> str:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
        return (f"process {owner['pid']} on {owner['host']} (`{owner['command']}`, started {owner['started']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) while ``command`` writes there.

    A second process asking for the same folder gets `FolderInUseError` at once, naming the process that holds
    it. The lock is an OS file lock (``flock``) on ``.cmhash.lock``: the kernel releases it when its process ends,
    even by ``kill -9``, so a lock left by a killed run never blocks a ``--resume``. Taking a lock this process
    already holds is allowed (nested commands).

    Example:
        >>> import tempfile
        >>> with folder_lock(tempfile.mkdtemp(), "cmhash train") as path:
        ...     json.loads(path.read_text())["command"]
        'cmhash train'
    """
    folder = Path(folder).resolve()
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    if folder in _HELD_LOCKS:
        _HELD_LOCKS[folder] += 1
        try:
            yield path
        finally:
            _HELD_LOCKS[folder] -= 1
        return
    try:
        import fcntl
    except ImportError:  # Windows: filelock's msvcrt lock, without the holder's details
        fcntl = None
    if fcntl is None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(path) + ".win")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise FolderInUseError(f"{folder} is in use by another process: wait for it to finish.") from None
        release = lock.release
        handle = None
    else:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise FolderInUseError(
                f"{folder} is in use by {_lock_holder(path)}: two commands must not write one run folder at once; "
                "wait for it to finish (or stop it), or choose another folder."
            ) from None

        def release() -> None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    try:
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                     "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
            handle.flush()
        _HELD_LOCKS[folder] = 1
        yield path
    except BaseException:
        if created and [p.name for p in folder.iterdir()] == [LOCK_FILE]:  # failed before writing: leave no trace
            path.unlink()
            folder.rmdir()
        raise
    finally:
        _HELD_LOCKS.pop(folder, None)
        release()
