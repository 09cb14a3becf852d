"""Wiki builder: the 2,866 Wikipedia pairs as precomputed features (128-d SIFT BoVW, 10-d LDA), 10 classes.

Source layout::

    <source>/wiki_data.mat   MATLAB v7.3 (HDF5) file with I_tr, T_tr, L_tr (2,173 train rows) and I_te, T_te,
                             L_te (693 test rows): image features, text features, one-hot labels

h5py stores every MATLAB matrix transposed, so each is read as ``f[name][()].T`` (samples x features). The rows
are the training items (0 ... 2,172) followed by the test items (2,173 ... 2,865). The original train/test
split is the ``classic`` protocol (693 queries = the test items; the 2,173 training items are both the
training set and the database); it is returned in :attr:`BuiltDataset.fixed_splits` instead of a seeded draw.

Example:
    >>> import tempfile, h5py, numpy as np
    >>> src = Path(tempfile.mkdtemp())
    >>> with h5py.File(src / "wiki_data.mat", "w") as f:
    ...     for part, n in [("tr", 3), ("te", 1)]:
    ...         f[f"I_{part}"] = np.ones((128, n)); f[f"T_{part}"] = np.ones((10, n))
    ...         f[f"L_{part}"] = np.eye(10)[:, :n]
    >>> built = build_wiki(src)
    >>> len(built.dataset), built.dataset[3]["labels"], built.fixed_splits["classic"].query.tolist()
    (4, [0], [3])
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..splits import SplitIndices
from .common import BuiltDataset, assemble, require_file

#: The 10 Wiki categories, in the order of the label columns (the per-class counts of ``wiki_data.mat`` match
#: those of the original release, whose categories are numbered in this alphabetical order).
WIKI_LABEL_NAMES: list[str] = [
    "art", "biology", "geography", "history", "literature", "media", "music", "royalty", "sport", "warfare",
]  # fmt: skip


def build_wiki(source: str | os.PathLike) -> BuiltDataset:
    """Build Wiki (image and text features, one label each) with its original train/test split as ``classic``."""
    source = Path(source)
    path = require_file(source / "wiki_data.mat", "the Wiki feature file")
    with h5py.File(path, "r") as handle:
        missing = sorted({f"{kind}_{part}" for kind in "ITL" for part in ("tr", "te")} - set(handle))
        if missing:
            raise ValueError(f"{path} lacks the variables {missing}.")
        parts = {name: np.asarray(handle[name][()]).T for name in handle}
    image_features = np.concatenate([parts["I_tr"], parts["I_te"]]).astype(np.float32)
    text_features = np.concatenate([parts["T_tr"], parts["T_te"]]).astype(np.float32)
    labels = np.concatenate([parts["L_tr"], parts["L_te"]]).astype(np.uint8)
    num_train, num_items = len(parts["I_tr"]), len(image_features)
    if not len(text_features) == len(labels) == num_items or labels.shape[1] != len(WIKI_LABEL_NAMES):
        raise ValueError(f"{path}: features and labels differ in rows, or labels are not {len(WIKI_LABEL_NAMES)}-way.")
    train = np.arange(num_train)
    classic = SplitIndices(
        query=np.arange(num_train, num_items),
        train=train,
        database=train,
        protocol="classic",
        dataset_name="wiki",
        num_items=num_items,
        extra={"origin": "the original train/test split of wiki_data.mat (query = test rows), not a seeded draw"},
    )
    return assemble(
        label_names=WIKI_LABEL_NAMES,
        labels=labels,
        image_features=image_features,
        text_features=text_features,
        fixed_splits={"classic": classic},
        extra_report={"num_train": num_train, "num_test": num_items - num_train},
        description=(
            "Wiki (Rasiwasia et al. 2010): image_features are 128-d SIFT bag-of-visual-words histograms, "
            "text_features 10-d LDA topic proportions; rows are the 2,173 original training pairs then the 693 test "
            "pairs; the classic split is the original one."
        ),
    )
