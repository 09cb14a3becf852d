"""What the retrieval Space does, without the page: load a model and an index, answer queries, keep a user's pictures.

Every answer method returns ``(results, status)`` where ``status`` is a Markdown line for the page; bad input
(no query, an unreadable file, an empty index) becomes a status message, never an exception.

Requests are independent: result pictures are handed to Gradio as files written once each (atomically) into a
folder of this process (`PictureFiles`), never as in-memory pictures that Gradio would re-encode into one shared
cache file per picture on every request (a concurrent request could then be sent that file while it was being
rewritten). Encoding a query (tokenizer and model) takes a lock: a fast tokenizer must not be called from two
threads at once, and the encoding takes milliseconds.

Example:
    >>> space = RetrievalSpace.load("runs/demo-gancmh32")  # doctest: +SKIP
    >>> gallery, status = space.text_to_images("a red circle", k=4, added=None)  # doctest: +SKIP
    >>> [caption for _, caption in gallery]  # doctest: +SKIP
    ['#1 · distance 3 · a red disc ...', ...]
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.data import CrossModalDataset, load_cross_modal_dataset
from cmhash_hf.file_utils import atomic_write_bytes
from cmhash_hf.hub import INDEX_FOLDER, card_summary, load_collection, load_model_card
from cmhash_hf.indexing import index_run
from cmhash_hf.processing import load_image, to_rgb
from cmhash_hf.retrieval.collection import Collection, Hit

DEFAULT_K = 8
MAX_K = 48
ERRORS = (ValueError, TypeError, OSError)


@dataclass
class UserPictures:
    """One visitor's view of the collection (plus the pictures they added) and those pictures by id."""

    index: Collection
    pictures: dict[int, Image.Image] = field(default_factory=dict)


@dataclass
class UnreadableUpload:
    """What a picture input hands over when the uploaded file is not a picture (see `app.tolerant_image`)."""

    name: str
    reason: str


class PictureFiles:
    """Result pictures as files written once each (PNG, atomic rename) into one folder of this process.

    Two requests showing the same picture get the same finished file; a file is never rewritten in place, so a
    file being sent is never changed under the sender.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="cmhash-space-pictures-"))

    def path(self, key: str | None, picture: Image.Image | Callable[[], Image.Image]) -> str:
        """The file of ``picture`` (or of what ``picture()`` returns, called only when the file is not there yet);
        ``key`` names it (e.g. ``row-12``), None names it by its content."""
        if key is not None:
            path = self.folder / f"{key}.png"
            if path.is_file():
                return str(path)
        buffer = io.BytesIO()
        to_rgb(picture() if callable(picture) else picture).save(buffer, format="PNG")
        data = buffer.getvalue()
        path = self.folder / f"{key or 'picture-' + hashlib.sha256(data).hexdigest()[:20]}.png"
        if not path.is_file():
            atomic_write_bytes(path, data)
        return str(path)


def _file_path(file: Any) -> str:
    """The path of an uploaded file as Gradio hands it over (a path string or an object with ``.name``/``.path``)."""
    return str(getattr(file, "path", None) or getattr(file, "name", None) or file)


class RetrievalSpace:
    """A model, its processor, a collection (in any index backend) and the dataset its pictures come from, if any."""

    def __init__(
        self,
        model: Any,
        processor: CrossModalHashProcessor,
        index: Collection,
        data: CrossModalDataset | None,
        summary: str = "",
    ) -> None:
        if index.bits != model.config.hash_bits:
            raise ValueError(f"The index holds {index.bits}-bit codes but the model makes {model.config.hash_bits}-bit codes.")
        self.model = model
        self.processor = processor
        self.index = index
        self.data = data
        self.summary = summary
        self.files = PictureFiles()
        self._encoding = threading.Lock()

    @classmethod
    def load(cls, model: str, index: str | None = None, dataset: str | None = None, uri: str | None = None,
             backend: str = "exact") -> "RetrievalSpace":
        """Load ``model`` (folder or Hub id) and a collection: ``index`` (a folder), else the model's own ``index/``,
        else one built now from the ``database`` split of ``dataset`` (default: the model's training dataset) in
        ``backend``. ``uri`` reaches the collection's tables at another address (e.g. a Milvus server)."""
        loaded = CrossModalHashModel.from_pretrained(model)
        processor = CrossModalHashProcessor.from_pretrained(model)
        options = {"uri": uri} if uri else {}
        if index is not None:
            collection = load_collection(index, subfolder="", **options)
        else:
            try:
                collection = load_collection(model, subfolder=INDEX_FOLDER, **options)
            except OSError:
                folder = Path(tempfile.mkdtemp(prefix="cmhash-space-")) / INDEX_FOLDER
                built = index_run(model, folder, dataset=dataset or loaded.config.dataset_name, backend=backend, uri=uri)
                collection = load_collection(built.folder, subfolder="")
        data = None
        if collection.info.get("dataset"):
            data = load_cross_modal_dataset(collection.info["dataset"], **collection.info.get("dataset_kwargs", {}))
        card = load_model_card(model)
        return cls(loaded, processor, collection, data if data is not None and data.has_images else None,
                   card_summary(card) if card else "")

    # ------------------------------------------------------------------ page text
    def header_markdown(self) -> str:
        """What the page says about the model and the index."""
        config = self.model.config
        lines = [
            "# Cross-modal retrieval with binary codes",
            (
                f"**Method** `{config.model_type}` · **{config.hash_bits} bits** per item · trained on "
                f"`{config.dataset_name or 'unknown'}` · index: {self._collection_words()}, searched by Hamming "
                f"distance in the `{self.index.backend}` backend."
            ),
        ]
        if self.summary:
            lines.append(self.summary)
        return "\n\n".join(lines)

    def _collection_words(self) -> str:
        info = self.index.info
        if info.get("dataset"):
            return f"{len(self.index)} items of `{info['dataset']}` ({info.get('split')} split)"
        return f"{len(self.index)} items from `{Path(str(info.get('root') or info.get('source'))).name}`"

    # ------------------------------------------------------------------ encoding
    def _text_codes(self, text: str) -> np.ndarray:
        with self._encoding:
            return self.model.encode_text(**self.processor(text=[text], return_tensors="pt")).numpy()

    def _image_codes(self, pictures: Sequence[Image.Image]) -> np.ndarray:
        with self._encoding:
            return self.model.encode_image(**self.processor(images=list(pictures), return_tensors="pt")).numpy()

    def _picture(self, hit: Hit, added: UserPictures | None) -> str | None:
        """The file showing a hit: a dataset row's picture, a visitor's own picture, or the collection's file."""
        if hit.added:
            picture = added.pictures.get(hit.id) if added else None
            return self.files.path(None, picture) if picture is not None else None
        if hit.row is not None:
            if self.data is None:
                return None
            data, row = self.data, hit.row
            return self.files.path(f"row-{row}", lambda: data.dataset[row]["image"])
        path = self.index.picture_path(hit)
        try:
            return self.files.path(f"item-{hit.id}", lambda: load_image(path, hit.id)) if path is not None else None
        except ERRORS:
            return None

    def _gallery(self, hits: list[Hit], added: UserPictures | None) -> list[tuple[str, str]]:
        gallery = []
        for rank, hit in enumerate(hits, 1):
            picture = self._picture(hit, added)
            if hit.added:
                what = f"your picture {hit.text}"
            else:
                what = hit.text or ", ".join(hit.labels) or (Path(hit.path).name if hit.path else f"item {hit.id}")
            if picture is not None:
                gallery.append((picture, f"#{rank} · distance {hit.distance} · {what}"))
        return gallery

    @staticmethod
    def _answer(work: Callable[[], tuple[Any, str]], empty: Any) -> tuple[Any, str]:
        try:
            return work()
        except ERRORS as err:
            return empty, f"⚠️ {str(err).strip() or type(err).__name__}"

    def _checked_k(self, k: Any) -> int:
        return max(1, min(MAX_K, int(k or DEFAULT_K)))

    # ------------------------------------------------------------------ answers
    def text_to_images(self, text: str | None, k: Any, added: UserPictures | None) -> tuple[list, str]:
        """The ``k`` pictures nearest to a text, as a gallery of (picture, caption with the Hamming distance)."""
        if not text or not text.strip():
            return [], "⚠️ Type a text query first."
        index = added.index if added else self.index
        if index.num_images == 0:
            return [], "⚠️ The index is empty: there are no pictures to search."

        def work() -> tuple[list, str]:
            hits = index.search_images(self._text_codes(text.strip()), self._checked_k(k))
            status = f"Top {len(hits)} of {index.num_images} pictures for “{text.strip()}” ({self.index.bits}-bit Hamming distance)."
            if self.processor.side("text").ignores(text):
                status += " None of its words is in the model's vocabulary, so the ranking is arbitrary."
            return self._gallery(hits, added), status

        return self._answer(work, [])

    def _query_picture(self, image: Any) -> Image.Image:
        if image is None:
            raise ValueError("Upload a query picture first.")
        if isinstance(image, UnreadableUpload):
            raise ValueError(f"{image.name} is not a picture this Space can read ({image.reason}): upload a PNG, "
                             "JPEG, WebP or GIF file.")
        return load_image(image if isinstance(image, (Image.Image, np.ndarray)) else _file_path(image), 0)

    def image_to_texts(self, image: Any, k: Any) -> tuple[list[list[Any]], str]:
        """The ``k`` database texts nearest to a picture, as rows (rank, distance, caption, labels)."""
        if self.index.num_texts == 0:
            return [], "⚠️ The index has no texts to search."

        def work() -> tuple[list[list[Any]], str]:
            hits = self.index.search_texts(self._image_codes([self._query_picture(image)]), self._checked_k(k))
            rows = [[rank, hit.distance, hit.text or "", ", ".join(hit.labels)] for rank, hit in enumerate(hits, 1)]
            return rows, f"Top {len(rows)} of {self.index.num_texts} texts for your picture."

        return self._answer(work, [])

    def image_to_images(self, image: Any, k: Any, added: UserPictures | None) -> tuple[list, str]:
        """The ``k`` pictures (database and the user's own) nearest to a picture, as a gallery."""
        index = added.index if added else self.index
        if index.num_images == 0:
            return [], "⚠️ The index is empty: there are no pictures to search."

        def work() -> tuple[list, str]:
            hits = index.search_images(self._image_codes([self._query_picture(image)]), self._checked_k(k))
            return self._gallery(hits, added), f"Top {len(hits)} of {index.num_images} pictures for your picture."

        return self._answer(work, [])

    def add_pictures(self, files: Sequence[Any] | None, added: UserPictures | None) -> tuple[UserPictures | None, str]:
        """Add uploaded pictures to this visitor's index (searched by both picture tabs); unreadable files are
        skipped with a message."""
        if not files:
            return added, "⚠️ Choose one or more picture files to add."
        pictures, names, problems = [], [], []
        for file in files:
            path = _file_path(file)
            try:
                pictures.append(load_image(path, len(pictures)))
                names.append(Path(path).name)
            except ERRORS as err:
                problems.append(f"{Path(path).name}: {err}")
        current = added or UserPictures(self.index)
        if pictures:
            start = current.index.num_images
            index = current.index.with_images(self._image_codes(pictures), names)
            current = UserPictures(index, {**current.pictures, **dict(zip(range(start, start + len(pictures)), pictures))})
        status = f"Added {len(pictures)} picture(s); the picture index now holds {current.index.num_images}."
        if problems:
            status = ("⚠️ " if not pictures else "") + status + " Could not read: " + "; ".join(problems)
        return (current if pictures or added else None), status

