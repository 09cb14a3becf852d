"""Fault injection: full disks, killed processes, concurrent writers and corrupted files.

Each test checks the error a user sees (its exact wording where it matters) and that the files written before
the fault are intact. A full disk is a real 1 MiB tmpfs where this machine lets the tests mount one (root on
Linux); elsewhere ``OSError(ENOSPC)`` is raised at the write call once a byte budget is spent.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import datasets
import numpy as np
import pytest

from cmhash_hf import AutoConfig, CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.encoding import encode_dataset
from cmhash_hf.file_utils import CHECKSUM_FILE, LOCK_FILE, atomic_folder, atomic_write_text, folder_lock, staged_files
from cmhash_hf.retrieval.collection import Collection, CollectionWriter
from cmhash_hf.training.trainer import HashTrainer


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

    def free(self) -> None:
        """Writes succeed again."""
        if self.mounted:
            (self.folder / ".filler").unlink()
        else:
            self.monkeypatch.undo()


@pytest.fixture(params=["tmpfs", "injected"])
def full_disk(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A `FullDisk`: "tmpfs" mounts a real one when allowed (else falls back to injection), "injected" never does."""
    folder = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    mounted = request.param == "tmpfs" and shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True
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


# ---------------------------------------------------------------------------------------------- runs
QUICK = ["--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "tiny", "--bits", "16", "--max-train-samples",
         "96", "--batch-size", "32"]
STEPS_PER_EPOCH = 6  # 3 batches, DCMH's image pass then text pass


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny finished run (2 epochs, checkpoints kept); tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *QUICK, "--epochs", "2", "--output-dir", str(out)]) == 0
    return out


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file (bytes and modification time) but the lock file, whose holder line each command rewrites."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def cli_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI, expect exit status 2 and one error line; return that line without its prefix."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith("cmhash: error: ") and "Traceback" not in "".join(err)
    return err[-1][len("cmhash: error: "):]


def python(code: str, **popen: object) -> subprocess.Popen:
    """A Python subprocess importing this tree's cmhash_hf (PYTHONPATH is inherited)."""
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TQDM_DISABLE": "1"}, **popen)


# ---------------------------------------------------------------------------------------------- point 6
def test_resume_of_a_finished_run_changes_nothing(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    before = snapshot(run_copy)
    recorded = json.loads((run_copy / "train_results.json").read_text())
    assert main(["train", *QUICK, "--epochs", "2", "--output-dir", str(run_copy), "--resume"]) == 0
    assert snapshot(run_copy) == before
    assert recorded["train_seconds"] > 0 and recorded["global_step"] == 2 * STEPS_PER_EPOCH


def test_a_killed_run_resumes_with_each_step_logged_once(tmp_path: Path) -> None:
    """kill -9 in the middle of epoch 2 (after epoch 1's checkpoint); --resume finishes with a clean log."""
    out = tmp_path / "run"
    argv = ["train", *QUICK, "--max-train-samples", "640", "--epochs", "3", "--output-dir", str(out)]
    child = python(f"from cmhash_hf.cli import main; main({argv!r})", stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    log, marker = out / "train_log.jsonl", out / "checkpoints" / "epoch-1" / "trainer_state.json"
    steps_per_epoch = 2 * 20
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and child.poll() is None:
        if marker.is_file() and log.is_file() and len(log.read_text().splitlines()) > steps_per_epoch + 3:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the run finished (or failed) before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines() if line.endswith("}")]
    assert max(logged) > steps_per_epoch  # steps of epoch 2 were logged before the kill
    assert not (out / "train_results.json").exists()
    assert main([*argv, "--resume"]) == 0
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == list(range(1, 3 * steps_per_epoch + 1))
    assert json.loads((out / "train_results.json").read_text())["global_step"] == 3 * steps_per_epoch


# ---------------------------------------------------------------------------------------------- point 2
def test_a_second_writer_stops_at_once_naming_the_first_and_a_killed_one_blocks_nothing(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    holder = python(
        "import sys\nfrom cmhash_hf.file_utils import folder_lock\n"
        f"with folder_lock({str(run_copy)!r}, 'cmhash train'):\n    print('held', flush=True)\n    sys.stdin.read()\n",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    owner = json.loads((run_copy / LOCK_FILE).read_text())
    assert owner["pid"] == holder.pid and owner["command"] == "cmhash train"
    expected = (f"{run_copy.resolve()} is in use by process {holder.pid} on {socket.gethostname()} (`cmhash train`, "
                f"started {owner['started']}): two commands must not write one run folder at once; wait for it to "
                "finish (or stop it), or choose another folder.")
    before = snapshot(run_copy)
    started = time.monotonic()
    assert cli_error(["train", *QUICK, "--epochs", "2", "--output-dir", str(run_copy), "--resume"], capsys) == expected
    assert cli_error(["evaluate", str(run_copy)], capsys) == expected
    assert cli_error(["index", str(run_copy), "--split", "query"], capsys) == expected
    assert cli_error(["bench", "--dataset", "builtin:shapes", "--methods", "dcmh", "--bits", "8", "--output-dir",
                      str(run_copy)], capsys) == expected
    assert time.monotonic() - started < 60  # at once: none of them trained, encoded or indexed anything
    assert snapshot(run_copy) == before
    holder.send_signal(signal.SIGKILL)  # its lock file stays, naming a dead process
    holder.wait()
    assert json.loads((run_copy / LOCK_FILE).read_text())["pid"] == holder.pid
    assert main(["train", *QUICK, "--epochs", "3", "--output-dir", str(run_copy), "--resume"]) == 0
    assert json.loads((run_copy / "train_results.json").read_text())["epochs"] == 3


def test_one_process_may_nest_locks_of_one_folder(tmp_path: Path) -> None:
    with folder_lock(tmp_path, "cmhash bench"), folder_lock(tmp_path, "cmhash evaluate"):
        pass
    with folder_lock(tmp_path, "cmhash train"):  # released, so it can be taken again
        assert json.loads((tmp_path / LOCK_FILE).read_text())["command"] == "cmhash train"


# ---------------------------------------------------------------------------------------------- points 4 and 5
def test_altered_weights_are_detected_and_checkpoints_without_checksums_still_load(run_copy: Path) -> None:
    weights = run_copy / "model.safetensors"
    original = weights.read_bytes()
    manifest = json.loads((run_copy / CHECKSUM_FILE).read_text())
    assert manifest == {"algorithm": "sha256", "files": {"model.safetensors": hashlib.sha256(original).hexdigest()}}
    altered = bytearray(original)
    altered[-10] ^= 0x01  # one bit of a weight: the file still parses
    weights.write_bytes(bytes(altered))
    with pytest.raises(OSError) as caught:
        CrossModalHashModel.from_pretrained(str(run_copy))
    assert str(caught.value) == (
        f"{weights} does not match the checksum recorded in {run_copy / CHECKSUM_FILE} when it was saved: the file "
        "was altered or damaged (or only part of a save was copied); save or download it again."
    )
    weights.write_bytes(original)
    (run_copy / CHECKSUM_FILE).unlink()  # a checkpoint saved before checksums were recorded
    assert CrossModalHashModel.from_pretrained(str(run_copy)).config.hash_bits == 16


def test_truncated_weights_name_the_file(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    weights = run_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert cli_error(["evaluate", str(run_copy)], capsys).startswith(f"{weights} does not match the checksum")
    (run_copy / CHECKSUM_FILE).unlink()
    message = cli_error(["evaluate", str(run_copy)], capsys)
    assert message.startswith(f"The weights file of {run_copy} (model.safetensors) cannot be read: ")
    assert message.endswith("It is truncated or damaged; save the model again or download it again.")


def test_a_config_that_is_not_json_says_so(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (run_copy / "config.json").write_text('{"hash_bits": 16,')
    assert cli_error(["evaluate", str(run_copy)], capsys) == (
        f"{run_copy / 'config.json'} is not valid JSON (Expecting property name enclosed in double quotes: line 1 "
        "column 18 (char 17)): the config file is damaged; save the model again or restore the file."
    )


@pytest.mark.parametrize("name", ["cmhash_processor.json", "tokenizer.json", "preprocessor_config.json"])
def test_damaged_processor_files_are_named(run_copy: Path, name: str, capsys: pytest.CaptureFixture) -> None:
    (run_copy / name).write_text("{not json")
    message = cli_error(["evaluate", str(run_copy)], capsys)
    if name == "cmhash_processor.json":
        assert message.startswith(f"{run_copy / name} is not valid JSON (")
    else:
        what = "tokenizer (tokenizer.json" if name == "tokenizer.json" else "image processor (preprocessor_config.json)"
        assert message.startswith(f"The {what}") and f"of {run_copy} cannot be read (" in message
    assert message.endswith("save the processor again or restore the files.") or message.endswith(
        "save the processor again or restore the file.")


def test_a_damaged_split_file_is_named(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    split = run_copy / "splits" / "classic-seed0.json"
    split.write_text("[1, 2")
    assert cli_error(["evaluate", str(run_copy)], capsys).startswith(f"Split file {split} is not valid JSON: ")


@pytest.mark.parametrize("name", ["image_codes.cmhash", "text_codes.cmhash", "items.arrow", "collection.json"])
def test_damaged_index_files_are_named(tmp_path: Path, name: str) -> None:
    folder = small_index(0).save(tmp_path / "index")
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) - 5])
    with pytest.raises(ValueError) as caught:
        Collection.load(folder)
    assert str(caught.value).startswith(str(folder / name))


def test_damaged_dataset_files_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    load_cross_modal_dataset("builtin:shapes", num_items=8).dataset.save_to_disk(str(folder))
    arrow = next(folder.glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:2000])
    with pytest.raises(OSError) as caught:
        load_cross_modal_dataset(str(folder))
    assert str(caught.value).startswith(f"The dataset files in {folder} cannot be read (")
    assert str(caught.value).endswith("one is truncated or damaged; build, save or download the dataset again.")


def test_evaluating_an_unfinished_run_suggests_resume(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    (run_copy / "train_results.json").unlink()
    assert cli_error(["evaluate", str(run_copy)], capsys) == (
        f"The training of {run_copy} never finished (it has no train_results.json): continue it with "
        f"`cmhash train --resume --output-dir {run_copy} ...` (same settings as its training_args.json), then "
        "evaluate it."
    )


def test_a_full_disk_while_training_keeps_the_earlier_checkpoints(full_disk: FullDisk) -> None:
    out = full_disk.folder / "run"
    real_save = HashTrainer._save_checkpoint

    def save(self: HashTrainer, epoch: int) -> None:
        if epoch == 1:  # the disk fills up during epoch 2
            if full_disk.mounted:
                full_disk.fill()
            else:
                def partial_save(folder: str) -> None:
                    Path(folder).mkdir(parents=True, exist_ok=True)
                    (Path(folder) / "model.safetensors").write_bytes(b"half")
                    raise OSError(errno.ENOSPC, "No space left on device")

                self.accelerator.save_state = partial_save
        real_save(self, epoch)

    argv = ["train", *QUICK, "--epochs", "2", "--output-dir", str(out)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HashTrainer, "_save_checkpoint", save)
        patch.setenv("CMHASH_DEBUG", "1")  # the CLI raises instead of printing, to check the error itself
        with pytest.raises(OSError) as caught:
            main(argv)
    assert str(caught.value) == disk_full_message(out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-1"]  # the partial epoch-2 is gone
    assert (out / "checkpoints" / "epoch-1" / "trainer_state.json").is_file()
    full_disk.free()
    assert main([*argv, "--resume"]) == 0
    assert json.loads((out / "train_results.json").read_text())["global_step"] == 2 * STEPS_PER_EPOCH


def test_set_rejects_unknown_keys_and_wrong_types(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "x")
    assert cli_error(["train", *QUICK, "--output-dir", out, "--set", "gama=0.5"], capsys) == (
        "dcmh has no setting 'gama' (--set KEY=VALUE); its settings are: quantization_weight, balance_weight, alternate_by.")
    assert cli_error(["train", *QUICK, "--output-dir", out, "--set", "balance_weight=[1]"], capsys) == (
        "dcmh setting 'balance_weight' expects float, got [1] (list).")
    assert cli_error(["train", *QUICK, "--method", "dbrc", "--output-dir", out, "--set", "shared_dim=2.5"],
                     capsys) == "dbrc setting 'shared_dim' expects int, got 2.5 (float)."
    assert sorted(tmp_path.iterdir()) == []  # refused before anything was written


def test_a_killed_index_leaves_the_old_index_and_the_next_one_cleans_up(run_copy: Path) -> None:
    """kill -9 between the image codes and the text codes of a new index: the old one loads as it was."""
    folder = run_copy / "index"
    old = small_index(3)
    old.save(folder)
    child = python(
        "import os, signal\nfrom cmhash_hf.retrieval import HammingIndex\nfrom cmhash_hf.cli import main\n"
        "real = HammingIndex.save\n"
        "def save(self, path):\n    real(self, path)\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "HammingIndex.save = save\n"
        f"main(['index', {str(run_copy)!r}, '--split', 'query'])\n",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    assert child.wait() == -signal.SIGKILL
    staging = [p.name for p in run_copy.glob(".index.*.new")]
    assert len(staging) == 1 and "image_codes.cmhash" in os.listdir(run_copy / staging[0])
    assert "text_codes.cmhash" not in os.listdir(run_copy / staging[0])
    assert same_index(Collection.load(folder), old)
    assert main(["index", str(run_copy), "--split", "query"]) == 0
    assert len(Collection.load(folder)) == 400
    assert list(run_copy.glob(".index.*")) == []


def test_a_training_row_without_labels_is_named(tmp_path, capsys):
    """Point 5: a supervised run on a dataset where one row lost its labels says which row, and what to do."""
    data = load_cross_modal_dataset("builtin:shapes")
    split = data.get_split("classic", 0)
    victim = int(split.train[3])
    broken = data.dataset.map(lambda row, i: {"labels": [] if i == victim else row["labels"]}, with_indices=True)
    folder = tmp_path / "shapes-missing-label"
    broken.save_to_disk(str(folder))
    code = main(["train", "--method", "dcmh", "--dataset", str(folder), "--epochs", "1",
                 "--output-dir", str(tmp_path / "run")])
    assert code == 2
    assert capsys.readouterr().err == (
        f"cmhash: error: Row {victim} of {folder} has no labels (1 training row(s) without labels: {victim}), but dcmh "
        "is a supervised method that learns from labels: give those rows labels, remove them from the dataset, pass "
        "--skip-bad-rows to train on the other rows, or train an unsupervised method (e.g. dbrc).\n"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_an_empty_caption_names_its_dataset_row_in_training_and_in_evaluation_encoding(tmp_path, capsys):
    """Point 5: the row in the dataset, not the position inside an encoding batch."""
    data = load_cross_modal_dataset("builtin:shapes")
    victim = int(data.get_split("classic", 0).train[37])
    broken = data.dataset.map(lambda row, i: {"text": "  " if i == victim else row["text"]}, with_indices=True)
    folder = tmp_path / "shapes-empty-caption"
    broken.save_to_disk(str(folder))
    code = main(["train", "--method", "dcmh", "--dataset", str(folder), "--epochs", "1", "--batch-size", "64",
                 "--output-dir", str(tmp_path / "run")])
    assert code == 2
    message = f"Dataset row {victim} has an empty caption ('text' column): every caption needs at least one word."
    assert capsys.readouterr().err == (f"cmhash: error: {message} Fix or remove that row, or pass --skip-bad-rows to "
                                       "leave out such rows and go on with the rest.\n")
    # the same row met while encoding a selection of rows (what evaluate and index do)
    model = CrossModalHashModel.from_config(AutoConfig.for_model("dcmh", hash_bits=16, num_classes=24))
    processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="bow")
    with pytest.raises(ValueError) as caught:
        encode_dataset(model, processor, load_cross_modal_dataset(str(folder)), np.array([0, 1, victim, 2]))
    assert str(caught.value) == f"{message} Fix or remove that row."  # evaluate has no --skip-bad-rows


def test_an_unreadable_picture_names_its_dataset_row(tmp_path, capsys):
    """Point 5: a picture whose stored bytes are not a picture stops training with the dataset row named."""
    data = load_cross_modal_dataset("builtin:shapes")
    victim = int(data.get_split("classic", 0).train[11])
    raw = data.dataset.cast_column("image", datasets.Image(decode=False))
    broken = raw.map(lambda row, i: {"image": {"bytes": b"not a picture", "path": None} if i == victim else row["image"]},
                     with_indices=True).cast_column("image", datasets.Image())
    folder = tmp_path / "shapes-bad-picture"
    broken.save_to_disk(str(folder))
    code = main(["train", "--method", "dcmh", "--dataset", str(folder), "--epochs", "1", "--batch-size", "64",
                 "--output-dir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cmhash: error: Dataset row {victim} could not be read: ") and err.endswith(
        ". Fix or remove that row, or pass --skip-bad-rows to leave out such rows and go on with the rest.\n"), err
    assert len(err.splitlines()) == 1
