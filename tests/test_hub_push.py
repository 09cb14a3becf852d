"""`cmhash index`, `cmhash push` and `model.push_to_hub`: checked at the HfApi boundary, never on the network."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from huggingface_hub import CommitInfo, HfApi, ModelCard, RepoUrl, constants

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.hub import load_collection
from cmhash_hf import indexing

from hub_runs import copy_of_shared_run

MODEL_FILES = {"config.json", "model.safetensors", "checksums.json"}  # checksums.json: the weights digest
PROCESSOR_FILES = {"cmhash_processor.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"}
RUN_FILES = {"README.md", "training_args.json", "train_results.json", "splits/classic-seed0.json"}
INDEX_FILES = {"index/image_codes.cmhash", "index/text_codes.cmhash", "index/items.arrow", "index/collection.json"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return copy_of_shared_run(tmp_path_factory, "push")


@pytest.fixture
def hub(monkeypatch):
    """Records what HfApi would do: create_repo and create_commit calls, with each uploaded file's bytes."""
    calls = SimpleNamespace(repos=[], commits=[])

    def create_repo(self, repo_id, **kwargs):
        calls.repos.append({"repo_id": repo_id, **kwargs})
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_commit(self, repo_id, operations, **kwargs):
        files = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        calls.commits.append({"repo_id": repo_id, "files": files, **kwargs})
        return CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/1", commit_message="", commit_description="",
                          oid="1" * 40)

    for name in ("upload_file", "upload_folder", "delete_file", "preupload_lfs_files"):
        monkeypatch.setattr(HfApi, name, lambda *a, _name=name, **k: pytest.fail(f"HfApi.{_name} must not be used"))
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_commit", create_commit)
    return calls


def test_index_command_saves_a_loadable_index_of_the_split(run):
    index = load_collection(run)
    data = load_cross_modal_dataset("builtin:shapes")
    query_rows = data.get_split("classic", 0).query
    assert (len(index), index.bits, index.info["split"], index.backend) == (400, 16, "query", "exact")
    assert index.items.column("row").to_pylist() == query_rows.tolist()
    assert index.items.column("text").to_pylist()[:3] == data.texts(query_rows[:3])
    model = CrossModalHashModel.from_pretrained(str(run))
    processor = CrossModalHashProcessor.from_pretrained(str(run))
    codes = model.encode_image(**processor(images=[data.dataset[int(query_rows[5])]["image"]])).numpy()
    hits = index.search_images(codes, k=400)
    assert hits[0].distance == 0 and 5 in [h.id for h in hits if h.distance == 0]


def test_push_uploads_model_processor_card_and_run_records_in_one_commit(run, hub, capsys):
    assert main(["push", str(run), "--repo-id", "some-org/dcmh-shapes-16bit", "--private"]) == 0
    assert hub.repos == [{"repo_id": "some-org/dcmh-shapes-16bit", "private": True, "exist_ok": True, "token": None}]
    (commit,) = hub.commits
    assert commit["repo_id"] == "some-org/dcmh-shapes-16bit"
    assert set(commit["files"]) == MODEL_FILES | PROCESSOR_FILES | RUN_FILES
    card = ModelCard(commit["files"]["README.md"].decode())
    assert card.data.library_name == "cmhash-hf"
    assert 'from_pretrained("some-org/dcmh-shapes-16bit")' in card.text
    assert "some-org/dcmh-shapes-16bit/commit/1" in capsys.readouterr().out


def test_push_with_index_adds_the_index_files(run, hub):
    assert main(["push", str(run), "--repo-id", "org/with-index", "--with-index"]) == 0
    (commit,) = hub.commits
    assert set(commit["files"]) == MODEL_FILES | PROCESSOR_FILES | RUN_FILES | INDEX_FILES
    assert commit["files"]["index/items.arrow"] == (run / "index" / "items.arrow").read_bytes()
    assert hub.repos[0]["private"] is None


def test_push_with_index_builds_one_when_the_run_has_none(run, hub, tmp_path, monkeypatch):
    built = []

    def index_run(run_dir, output, **kwargs):  # the real one is covered by `cmhash index` above
        built.append((Path(run_dir), kwargs.get("dataset"), kwargs.get("split", "database")))
        return SimpleNamespace(folder=Path(shutil.copytree(run / "index", output)))

    monkeypatch.setattr(indexing, "index_run", index_run)
    bare = shutil.copytree(run, tmp_path / "bare", ignore=shutil.ignore_patterns("index", "checkpoints"))
    assert main(["push", str(bare), "--repo-id", "org/built-index", "--with-index"]) == 0
    assert built == [(bare, None, "database")] and not (bare / "index").exists()  # built in a scratch folder
    (commit,) = hub.commits
    assert INDEX_FILES <= set(commit["files"])


def test_model_push_to_hub_sends_the_same_kind_of_commit(run, hub):
    model = CrossModalHashModel.from_pretrained(str(run))
    processor = CrossModalHashProcessor.from_pretrained(str(run))
    index = load_collection(run)
    with pytest.raises(TypeError):
        model.push_to_hub("org/positional", processor)
    model.push_to_hub("org/from-python", processor=processor, index=index, results={"map_i2t": 0.5, "map_t2i": 0.6})
    (commit,) = hub.commits
    assert set(commit["files"]) == MODEL_FILES | PROCESSOR_FILES | INDEX_FILES | {"README.md"}
    card = ModelCard(commit["files"]["README.md"].decode())
    assert [r.metric_value for r in card.data.eval_results] == [0.5, 0.6]


def test_save_pretrained_with_push_to_hub_uploads_the_card_too(run, hub, tmp_path):
    CrossModalHashModel.from_pretrained(str(run)).save_pretrained(tmp_path / "out", push_to_hub=True, repo_id="org/saved")
    (commit,) = hub.commits
    assert commit["repo_id"] == "org/saved" and set(commit["files"]) == MODEL_FILES | {"README.md"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["push", "{tmp}", "--repo-id", "org/x"], "holds no checkpoint to push"),
        (["push", "{run}", "--repo-id", "org/x", "--index", "{tmp}"], "holds no collection"),
        (["index", "{tmp}"], "holds no checkpoint"),
    ],
)
def test_bad_push_and_index_input_is_one_clear_line(run, hub, tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path, run=run) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cmhash: error: ") and message in err and not hub.commits


def test_hits_of_added_pictures_have_no_dataset_row(run):
    index = load_collection(run)
    grown = index.with_images(np.ones((1, 16), dtype=np.int8), ["mine.png"])
    hit = grown.search_images(np.ones(16), k=grown.num_images)
    mine = next(h for h in hit if h.id == 400)
    assert (mine.row, mine.text, mine.distance, mine.added) == (None, "mine.png", 0, True)
    assert (grown.num_images, index.num_images, len(grown)) == (401, 400, 400)


@pytest.mark.parametrize(
    "error, message",
    [
        (httpx.ConnectError("[Errno 111] Connection refused"),
         "cmhash: error: The Hugging Face Hub cannot be reached at {endpoint}: [Errno 111] Connection refused. Check the "
         "network connection (and HF_ENDPOINT), then push org/offline again; nothing was uploaded that a second push "
         "would not replace.\n"),
        (httpx.ConnectTimeout("timed out"),
         "cmhash: error: The Hugging Face Hub cannot be reached at {endpoint}: timed out. Check the network connection "
         "(and HF_ENDPOINT), then push org/offline again; nothing was uploaded that a second push would not replace.\n"),
    ],
)
def test_push_without_network_is_one_line(run, monkeypatch, capsys, error, message):
    def unreachable(self, repo_id, **kwargs):
        raise error

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    assert main(["push", str(run), "--repo-id", "org/offline"]) == 2
    captured = capsys.readouterr()
    assert captured.err == message.format(endpoint=constants.ENDPOINT)
    assert "Traceback" not in captured.out + captured.err


def test_push_in_offline_mode_says_so_without_touching_the_network(run, monkeypatch, capsys):
    """The real HfApi (not patched) under HF_HUB_OFFLINE=1: huggingface_hub refuses before any request."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["push", str(run), "--repo-id", "org/offline"]) == 2
    assert capsys.readouterr().err == (
        "cmhash: error: Cannot push org/offline while offline mode is on (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE and "
        "push again.\n"
    )
