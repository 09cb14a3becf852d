"""``--skip-bad-rows`` (issue 14, point 5): rows that cannot be used are left out, listed and recorded; without the
flag the first one stops the command with an error naming the row and the flag.

One shapes dataset (3,000 rows, classic split) is saved with bad rows where each test looks: in the first 96
training rows an empty caption (met in the first batch) and a picture whose bytes are not a picture; a training
row without labels after those 96; in the query split an empty caption and a broken picture.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from safetensors.torch import load_file

from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.data.bad_rows import SKIPPED_ROWS_FILE
from cmhash_hf.retrieval.collection import Collection
from cmhash_hf.training.trainer import EpochShuffleSampler

TRAIN_ROWS, BATCH = 96, 47  # 96 rows make 3 batches of 47, 94 rows make 2
QUICK = ["--method", "dcmh", "--preset", "tiny", "--bits", "16", "--max-train-samples", str(TRAIN_ROWS),
         "--batch-size", str(BATCH), "--epochs", "1"]
SKIP_REMEDY = "Fix or remove that row, or pass --skip-bad-rows to leave out such rows and go on with the rest."


class Broken:
    """The saved dataset and its bad rows (dataset row ids)."""

    def __init__(self, root: Path) -> None:
        data = load_cross_modal_dataset("builtin:shapes")
        split = data.get_split("classic", 0)
        first_batch = list(EpochShuffleSampler(TRAIN_ROWS, 0))[:BATCH]  # positions of epoch 1's first batch
        later = next(p for p in range(TRAIN_ROWS) if p not in first_batch)
        self.caption, self.picture = int(split.train[first_batch[0]]), int(split.train[later])
        self.unlabelled = int(split.train[TRAIN_ROWS + 3])
        self.query_caption, self.query_picture = int(split.query[5]), int(split.query[9])
        empty, broken = {self.caption, self.query_caption}, {self.picture, self.query_picture}

        def spoil(row: dict, i: int) -> dict:
            return {"text": "  " if i in empty else row["text"],
                    "image": {"bytes": b"not a picture", "path": None} if i in broken else row["image"],
                    "labels": [] if i == self.unlabelled else row["labels"]}

        raw = data.dataset.cast_column("image", datasets.Image(decode=False))
        self.folder = root / "shapes"  # the name picks the split sizes: those of builtin:shapes
        raw.map(spoil, with_indices=True).cast_column("image", datasets.Image()).save_to_disk(str(self.folder))


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Broken:
    return Broken(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def skipping_run(broken: Broken, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run trained with --skip-bad-rows on the broken dataset, and what the command printed."""
    out = tmp_path_factory.mktemp("runs") / "skipping"
    with pytest.MonkeyPatch.context() as patch:
        printed: list[str] = []
        patch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
        assert main(["train", *QUICK, "--dataset", str(broken.folder), "--output-dir", str(out), "--skip-bad-rows"]) == 0
    return out, "\n".join(printed)


def cli_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cmhash: error: ") and len(err.splitlines()) == 1, err
    return err[len("cmhash: error: "):].rstrip("\n")


def picture_reason(reason: str) -> bool:
    return reason == "picture cannot be decoded: cannot identify image file"


def test_both_commands_have_the_option() -> None:
    from cmhash_hf.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--method", "dcmh", "--output-dir", "x", "--skip-bad-rows"]).skip_bad_rows is True
    assert parser.parse_args(["index", "run", "--skip-bad-rows"]).skip_bad_rows is True
    assert parser.parse_args(["index", "run"]).skip_bad_rows is False


def test_without_the_flag_training_stops_at_the_first_bad_row_naming_it_and_the_flag(broken, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_error(["train", *QUICK, "--dataset", str(broken.folder), "--output-dir", str(out)], capsys) == (
        f"Dataset row {broken.caption} has an empty caption ('text' column): every caption needs at least one word. "
        f"{SKIP_REMEDY}")
    assert not (out / "model.safetensors").exists() and not (out / SKIPPED_ROWS_FILE).exists()


def test_with_the_flag_training_leaves_out_exactly_the_bad_rows(broken, skipping_run):
    out, printed = skipping_run
    recorded = json.loads((out / SKIPPED_ROWS_FILE).read_text())
    assert [entry["row"] for entry in recorded] == sorted([broken.caption, broken.picture])
    reasons = {entry["row"]: entry["reason"] for entry in recorded}
    assert reasons[broken.caption] == "empty caption" and picture_reason(reasons[broken.picture])
    results = json.loads((out / "train_results.json").read_text())
    assert results["train_rows"] == TRAIN_ROWS - 2 and results["skipped_rows"] == 2
    assert results["global_step"] == 2 * 2  # 94 rows: 2 batches of 47 (96 would make 3), DCMH's two passes
    lines = printed.splitlines()
    header = lines.index(f"Left out 2 training row(s) that could not be used (--skip-bad-rows; all listed in "
                         f"{out / SKIPPED_ROWS_FILE}):")
    first, second = sorted([broken.caption, broken.picture])
    assert lines[header + 1].startswith(f"  row {first}: ") and lines[header + 2].startswith(f"  row {second}: ")
    assert header + 3 == len(lines)


def test_a_resumed_run_trains_on_the_same_rows_bit_for_bit(broken, tmp_path):
    """Killed after epoch 1 (simulated: trained for 1 epoch), resumed to 2: the weights of an uninterrupted run."""
    argv = ["train", *QUICK, "--dataset", str(broken.folder), "--skip-bad-rows"]
    assert main([*argv, "--epochs", "2", "--output-dir", str(tmp_path / "whole")]) == 0
    assert main([*argv, "--epochs", "1", "--output-dir", str(tmp_path / "resumed")]) == 0
    (tmp_path / "resumed" / "train_results.json").unlink()
    assert main([*argv, "--epochs", "2", "--output-dir", str(tmp_path / "resumed"), "--resume"]) == 0
    whole, resumed = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("whole", "resumed"))
    assert whole.keys() == resumed.keys() and all(np.array_equal(whole[k], resumed[k]) for k in whole)
    assert (tmp_path / "whole" / SKIPPED_ROWS_FILE).read_text() == (tmp_path / "resumed" / SKIPPED_ROWS_FILE).read_text()


def test_a_row_without_labels_is_named_or_left_out_for_a_supervised_method(broken, tmp_path, capsys):
    argv = ["train", *QUICK, "--max-train-samples", str(TRAIN_ROWS + 10), "--dataset", str(broken.folder)]
    assert cli_error([*argv, "--output-dir", str(tmp_path / "a")], capsys) == (
        f"Row {broken.unlabelled} of {broken.folder} has no labels (1 training row(s) without labels: "
        f"{broken.unlabelled}), but dcmh is a supervised method that learns from labels: give those rows labels, "
        "remove them from the dataset, pass --skip-bad-rows to train on the other rows, or train an unsupervised "
        "method (e.g. dbrc).")
    assert main([*argv, "--output-dir", str(tmp_path / "b"), "--skip-bad-rows"]) == 0
    recorded = json.loads((tmp_path / "b" / SKIPPED_ROWS_FILE).read_text())
    assert {entry["row"]: entry["reason"] for entry in recorded}[broken.unlabelled] == "no labels"
    assert len(recorded) == 3
    assert json.loads((tmp_path / "b" / "train_results.json").read_text())["train_rows"] == TRAIN_ROWS + 10 - 3


def test_without_the_flag_indexing_stops_at_the_first_bad_row(broken, skipping_run, capsys):
    run, _ = skipping_run
    assert cli_error(["index", str(run), "--split", "query"], capsys) == (
        f"Dataset row {broken.query_caption} cannot be indexed: empty caption. {SKIP_REMEDY}")
    assert not (run / "index").exists()


def test_with_the_flag_indexing_gives_no_code_to_the_bad_rows(broken, skipping_run, tmp_path, capsys):
    run, _ = skipping_run
    folder = tmp_path / "index"
    capsys.readouterr()
    assert main(["index", str(run), "--split", "query", "--output", str(folder), "--skip-bad-rows"]) == 0
    printed = capsys.readouterr().out
    collection = Collection.load(folder)
    query = load_cross_modal_dataset(str(broken.folder)).get_split("classic", 0).query
    bad = [broken.query_caption, broken.query_picture]
    assert len(collection) == len(query) - 2 == 398
    assert collection.items.column("row").to_pylist() == [int(r) for r in query if r not in bad]  # ids: 0, 1, ...
    recorded = json.loads((folder / SKIPPED_ROWS_FILE).read_text())
    assert [entry["row"] for entry in recorded] == bad  # query order: position 5, then 9
    assert recorded[0]["reason"] == "empty caption" and picture_reason(recorded[1]["reason"])
    assert f"Indexed 398 items of {broken.folder} (query) into exact -> {folder}" in printed
    assert (f"Left out 2 item(s) that could not be used (--skip-bad-rows; all listed in {folder / SKIPPED_ROWS_FILE}):"
            f"\n  row {broken.query_caption}: empty caption\n  row {broken.query_picture}: picture cannot be decoded: "
            "cannot identify image file\n" in printed)
