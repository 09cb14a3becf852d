"""Loading by Hub id through a local Hub cache, offline: model, processor, card and index."""

from __future__ import annotations

import shutil

import huggingface_hub
import numpy as np
import pytest
import torch

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.hub import INDEX_FOLDER, load_collection, load_model_card

from hub_runs import shared_tiny_run

REPO_ID = "some-org/dcmh-shapes-16bit"
REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return shared_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def hub_cache(run, tmp_path_factory):
    """A Hub cache holding REPO_ID at REVISION (refs/main points at it), as `snapshot_download` leaves it."""
    cache = tmp_path_factory.mktemp("hub-cache")
    repo = cache / f"models--{REPO_ID.replace('/', '--')}"
    shutil.copytree(run, repo / "snapshots" / REVISION, ignore=shutil.ignore_patterns("checkpoints", "*.jsonl"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    return cache


def _same_codes(model, processor, reference_model, reference_processor) -> None:
    texts = ["a red circle", "two shapes: a blue star and a green square"]
    pictures = [np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)]
    assert torch.equal(model.encode_text(**processor(text=texts)), reference_model.encode_text(**reference_processor(text=texts)))
    assert torch.equal(model.encode_image(**processor(images=pictures)),
                       reference_model.encode_image(**reference_processor(images=pictures)))


def test_the_tests_run_offline():
    assert huggingface_hub.constants.HF_HUB_OFFLINE


def test_from_pretrained_by_hub_id_with_cache_dir(run, hub_cache):
    model = CrossModalHashModel.from_pretrained(REPO_ID, cache_dir=str(hub_cache))
    processor = CrossModalHashProcessor.from_pretrained(REPO_ID, cache_dir=str(hub_cache))
    _same_codes(model, processor, CrossModalHashModel.from_pretrained(str(run)), CrossModalHashProcessor.from_pretrained(str(run)))
    assert model.name_or_path == REPO_ID
    card = load_model_card(REPO_ID, cache_dir=str(hub_cache))
    assert card is not None and card.data.library_name == "cmhash-hf"
    index = load_collection(REPO_ID, subfolder=INDEX_FOLDER, cache_dir=str(hub_cache))
    assert len(index) == 400


def test_from_pretrained_by_hub_id_with_hf_hub_cache_variable(run, hub_cache, monkeypatch):
    # huggingface_hub reads HF_HUB_CACHE once, at import: set the variable and the constant it was read into.
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    model = CrossModalHashModel.from_pretrained(REPO_ID)
    processor = CrossModalHashProcessor.from_pretrained(REPO_ID)
    _same_codes(model, processor, CrossModalHashModel.from_pretrained(str(run)), CrossModalHashProcessor.from_pretrained(str(run)))
    assert load_collection(REPO_ID, subfolder=INDEX_FOLDER).bits == 16


def test_a_repo_missing_from_the_offline_cache_is_a_clear_error(hub_cache):
    with pytest.raises(OSError, match="holds no checkpoint"):
        CrossModalHashModel.from_pretrained("some-org/not-downloaded", cache_dir=str(hub_cache))
    with pytest.raises(OSError, match="holds no cmhash-hf processor"):
        CrossModalHashProcessor.from_pretrained("some-org/not-downloaded", cache_dir=str(hub_cache))
    with pytest.raises(OSError, match="holds no collection"):
        load_collection("some-org/not-downloaded", subfolder=INDEX_FOLDER, cache_dir=str(hub_cache))
