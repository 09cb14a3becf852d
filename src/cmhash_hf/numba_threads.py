"""Keep PyTorch's thread count when numba's parallel kernels run.

numba's OpenMP threading layer shares the process's OpenMP runtime with PyTorch, and the first parallel
kernel it launches resets the OpenMP thread count to numba's own (every core). A process that evaluates and then
trains again (a benchmark, a tuning loop) would then train with more threads than the user asked for
(``OMP_NUM_THREADS``, ``torch.set_num_threads``) — on a busy machine several times slower. Every call into a
parallel kernel of this package goes through `keep_torch_threads`, which puts PyTorch's count back.

Example:
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with keep_torch_threads():
    ...     torch.set_num_threads(before + 1)
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Restore ``torch.get_num_threads()`` after the block (numba's own thread count is left alone)."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
