"""Where the tests find the real data: ../shared/data beside the repository, or $CMHASH_SHARED_DATA."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("CMHASH_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
