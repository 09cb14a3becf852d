"""Fault injection: full disks, killed processes, concurrent writers and corrupted files.

Each test checks the error a user sees (its exact wording where it matters) and that the files written before
the fault are intact. A full disk is a real 1 MiB tmpfs where this machine lets the tests mount one (root on
Linux); elsewhere ``OSError(ENOSPC)`` is raised at the write call once a byte budget is spent.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from cmhash_hf.file_utils import atomic_folder, atomic_write_text, staged_files
from cmhash_hf.retrieval.collection import Collection, CollectionWriter


# ---------------------------------------------------------------------------------------------- full disks
class FullDisk:
    """A folder whose disk can be filled: a small tmpfs, or (where mounting is not allowed) injected ENOSPC."""

    def __init__(self, folder: Path, mounted: bool, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.mounted, self.monkeypatch = folder, mounted, monkeypatch

    def fill(self) -> None:
        """From now on writes under the folder fail with ENOSPC."""
        if self.mounted:
            with open(self.folder / ".filler", "wb", buffering=0) as handle:
                with pytest.raises(OSError) as caught:
                    while True:
                        handle.write(b"\0" * 4096)
                assert caught.value.errno == errno.ENOSPC
            return
        real_fdopen = os.fdopen

        class NoSpace:
            def __init__(self, handle):
                self.handle = handle

            def write(self, data):
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(self.handle, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.handle.__exit__(*exc)

        self.monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: NoSpace(real_fdopen(fd, *a, **k)))


@pytest.fixture(params=["tmpfs", "injected"])
def full_disk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A `FullDisk`: "tmpfs" mounts a real one when allowed (else falls back to injection), "injected" never does."""
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    mounted = request.param == "tmpfs" and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True
    ).returncode == 0
    try:
        yield FullDisk(folder, mounted, monkeypatch)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True)


def disk_full_message(path: Path) -> str:
    return (f"No space left on the disk holding {path}: free some space and run again "
            "(the files that were there before this write are unchanged).")


class SmallIndex:
    """A small collection's content, written with `save` into a folder by `CollectionWriter`."""

    def __init__(self, seed: int, n: int = 6, bits: int = 16) -> None:
        rng = np.random.default_rng(seed)
        self.bits = bits
        self.image, self.text = (np.where(rng.random((n, bits)) < 0.5, -1, 1).astype(np.int8) for _ in range(2))
        self.rows, self.texts = list(range(seed, seed + n)), [f"item {i}" for i in range(n)]

    def save(self, folder: Path) -> Path:
        writer = CollectionWriter(folder, self.bits, info={"dataset": "builtin:shapes"})
        writer.add(self.image, self.text, rows=self.rows, texts=self.texts, labels=[["a"]] * len(self.rows))
        return writer.finish()


def small_index(seed: int, n: int = 6, bits: int = 16) -> SmallIndex:
    return SmallIndex(seed, n, bits)


def same_index(a: Collection, b: SmallIndex) -> bool:
    return (a.items.column("row").to_pylist() == b.rows and a.items.column("text").to_pylist() == b.texts
            and np.array_equal(a.indexes["image"].packed_codes(), np.packbits(b.image > 0, axis=1))
            and np.array_equal(a.indexes["text"].packed_codes(), np.packbits(b.text > 0, axis=1)))


# ---------------------------------------------------------------------------------------------- point 1
def test_a_full_disk_while_indexing_leaves_the_old_index_as_it_was(full_disk: FullDisk) -> None:
    folder = full_disk.folder / "index"
    old = small_index(0)
    old.save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    full_disk.fill()
    with pytest.raises(OSError) as caught:
        small_index(100, n=9).save(folder)
    assert str(caught.value) == disk_full_message(folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert same_index(Collection.load(folder), old)
    assert sorted(p.name for p in full_disk.folder.iterdir() if p.name != ".filler") == ["index"]  # no staging left


def test_an_error_after_the_first_index_file_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case of the issue: the image codes are written, then the text codes fail; the old files all stay."""
    folder = tmp_path / "index"
    old = small_index(0)
    old.save(folder)
    new = small_index(1)
    from cmhash_hf.retrieval import HammingIndex

    real_save = HammingIndex.save
    calls = []

    def failing_save(self, path):
        calls.append(Path(path).name)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_save(self, path)

    monkeypatch.setattr(HammingIndex, "save", failing_save)
    with pytest.raises(OSError, match="Input/output error"):
        new.save(folder)
    assert calls == ["image_codes.cmhash", "text_codes.cmhash"]
    assert same_index(Collection.load(folder), old)
    monkeypatch.setattr(HammingIndex, "save", real_save)
    new.save(folder)
    assert same_index(Collection.load(folder), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_an_index_is_not_saved_over_a_folder_holding_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError) as caught:
        small_index(0).save(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} holds files that are not part of a collection (notes.txt): a collection replaces its whole folder, "
        "so give an empty folder or one written by `cmhash index`."
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_atomic_folder_switches_a_folder_in_one_step(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_folder(target) as staging:
        atomic_write_text(staging / "a", "1")
        (staging / "sub").mkdir()
        atomic_write_text(staging / "sub" / "b", "2")
    assert (target / "a").read_text() == "1" and (target / "sub" / "b").read_text() == "2"
    inode = os.stat(target / "a").st_ino
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target) as staging:
            atomic_write_text(staging / "a", "changed")
            raise KeyboardInterrupt
    assert os.stat(target / "a").st_ino == inode and (target / "a").read_text() == "1"
    with atomic_folder(target) as staging:
        atomic_write_text(staging / "c", "3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]  # the folder is replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_files_join_a_folder_only_when_every_file_is_written(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "keep.txt", "kept")
    atomic_write_text(tmp_path / "config.json", "old config")
    atomic_write_text(tmp_path / "model.bin", "old weights")
    with pytest.raises(OSError) as caught:
        with staged_files(tmp_path) as staging:
            atomic_write_text(staging / "config.json", "new config")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(caught.value) == disk_full_message(tmp_path)
    assert (tmp_path / "config.json").read_text() == "old config"
    with staged_files(tmp_path) as staging:
        atomic_write_text(staging / "config.json", "new config")
        atomic_write_text(staging / "model.bin", "new weights")
        atomic_write_text(staging / "splits" / "s.json", "split")
    assert {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == {
        "keep.txt": "kept", "config.json": "new config", "model.bin": "new weights", "splits/s.json": "split"}
