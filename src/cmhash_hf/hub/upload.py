"""Pushing a checkpoint folder to the Hub in one commit: model, processor, card, run records (and the index).

What goes up from a folder written by `cmhash train` / `save_pretrained`: every top-level file (config and
weights, processor and tokenizer files, ``README.md``, ``training_args.json``, ``results.json`` and its plots,
...) except the training log, plus the split files under ``splits/``; never the epoch checkpoints. With a
collection folder (``cmhash index``), its files go up under ``index/``.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("config.json", "model.safetensors", "train_log.jsonl", "checkpoints/epoch-1/model.safetensors"):
    ...     (folder / name).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (folder / name).write_text("x")
    >>> sorted(files_to_upload(folder))
    ['config.json', 'model.safetensors']
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, constants
from huggingface_hub.errors import OfflineModeIsEnabled

from ..processing import PROCESSOR_FILE
from .collection_files import INDEX_FOLDER, collection_files
from .model_card import write_model_card

#: Run files that stay local: the per-step training log and the epoch checkpoints.
LOCAL_ONLY_FILES = ("train_log.jsonl",)
UPLOADED_FOLDERS = ("splits",)
logger = logging.getLogger(__name__)


def files_to_upload(folder: str | Path, index_dir: str | Path | None = None) -> dict[str, Path]:
    """The files a push of ``folder`` sends, as {path in the repo: local path}.

    Raises:
        OSError: ``index_dir`` is given but holds no collection.
    """
    folder = Path(folder)
    files = {
        path.name: path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.name not in LOCAL_ONLY_FILES
    }
    for sub in UPLOADED_FOLDERS:
        for path in sorted((folder / sub).rglob("*")) if (folder / sub).is_dir() else []:
            if path.is_file() and not path.name.startswith("."):
                files[path.relative_to(folder).as_posix()] = path
    if index_dir is not None:
        for name, path in collection_files(index_dir).items():
            files[f"{INDEX_FOLDER}/{name}"] = path
    return dict(sorted(files.items()))


@contextlib.contextmanager
def hub_reachable(repo_id: str) -> Iterator[None]:
    """Turn "no network" into one `ConnectionError` naming the Hub endpoint and what to do.

    Offline mode (``HF_HUB_OFFLINE=1``), a refused or failed connection and a timeout all end up here; errors the
    Hub itself answers (no permission, bad repo id) pass through unchanged.

    Example:
        >>> with hub_reachable("org/model"):  # doctest: +ELLIPSIS
        ...     raise httpx.ConnectError("[Errno 111] Connection refused")
        Traceback (most recent call last):
        ...
        ConnectionError: The Hugging Face Hub cannot be reached at https://...: [Errno 111] Connection refused. ...
    """
    try:
        yield
    except OfflineModeIsEnabled:
        raise ConnectionError(
            f"Cannot push {repo_id} while offline mode is on (HF_HUB_OFFLINE=1): unset HF_HUB_OFFLINE and push again."
        ) from None
    except httpx.TransportError as err:
        raise ConnectionError(
            f"The Hugging Face Hub cannot be reached at {constants.ENDPOINT}: {err or type(err).__name__}. "
            f"Check the network connection (and HF_ENDPOINT), then push {repo_id} again; nothing was uploaded "
            "that a second push would not replace."
        ) from None


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | bool | None = None,
    index_dir: str | Path | None = None,
    commit_message: str | None = None,
    results: dict | None = None,
    api: HfApi | None = None,
) -> CommitInfo:
    """Create ``repo_id`` (if needed) and upload a checkpoint folder to it in one commit.

    The model card is rewritten first so its "How to use" loads ``repo_id`` (a hand-written ``README.md`` is
    kept). ``results`` overrides the folder's ``results.json`` in the card.

    Raises:
        ValueError: the folder holds no checkpoint (no ``config.json``).
        ConnectionError: the Hub cannot be reached (no network, offline mode); see `hub_reachable`.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} holds no checkpoint to push: no config.json there (expected a save_pretrained folder).")
    if not (folder / PROCESSOR_FILE).is_file():
        logger.warning("%s holds no processor (%s): the repo will not be usable for encoding.", folder, PROCESSOR_FILE)
    write_model_card(folder, results=results, model_id=repo_id)
    files = files_to_upload(folder, index_dir)
    api = api or HfApi(token=token)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    with hub_reachable(repo_id):
        repo = api.create_repo(repo_id, private=private, exist_ok=True, token=token)
        return api.create_commit(
            repo.repo_id,
            operations,
            commit_message=commit_message or f"Upload cmhash-hf checkpoint ({len(operations)} files)",
            token=token,
        )
