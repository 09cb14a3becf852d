"""Shared fixtures: offline Hub, quiet progress bars, tiny models of every registered method."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

from method_cases import METHOD_CASES, tiny_model  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(params=sorted(METHOD_CASES))
def method_name(request: pytest.FixtureRequest) -> str:
    """Every method with a row in METHOD_CASES (test_registry checks every registered method has one)."""
    return request.param


@pytest.fixture
def model(method_name: str):
    return tiny_model(method_name)
