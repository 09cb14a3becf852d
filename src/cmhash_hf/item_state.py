"""`ItemCodeState`: the per-item state of the methods with a code matrix B over the training set.

DCMH, DCPH and DFAH keep, for every training item, the latest continuous outputs of each modality (F for the
image net, G for the text net; DFAH also the fused outputs Z) and a binary code B that a discrete step sets
after each epoch. This module is that state, once: buffers (so `Accelerator.save_state` checkpoints them with
the run and a resumed run continues bit-identically), the labels of the training set when the loss needs them,
and the discrete step B = sign(Σ_s w_s · outputs_s) with sign(0) = +1.

The outputs start as standard Gaussian noise drawn from the ``generator`` the trainer seeds with the run's seed
(``--seed``), so two seeds start from different state and one seed from the same. ``code_updates`` counts the
discrete steps done (0 until the first epoch ends).

Example:
    >>> import torch
    >>> state = ItemCodeState(4, hash_bits=3, generator=torch.Generator().manual_seed(0))
    >>> state.image_outputs.shape, int(state.code_updates)
    (torch.Size([4, 3]), 0)
    >>> state.record("image", torch.tensor([1]), torch.tensor([[0.5, -0.5, 0.0]]))
    >>> state.record("text", torch.tensor([1]), torch.tensor([[0.2, 0.1, 0.0]]))
    >>> state.update_codes({"image": 1.0, "text": 1.0})
    >>> state.codes[1].tolist(), int(state.code_updates)
    ([1.0, -1.0, 1.0], 1)
"""

from __future__ import annotations

import torch
from torch import nn


def sign_codes(values: torch.Tensor) -> torch.Tensor:
    """±1 float codes of ``values`` with sign(0) = +1 (the float twin of `cmhash_hf.modeling_utils.binarize`).

    Example:
        >>> sign_codes(torch.tensor([-0.5, 0.0, 2.0])).tolist()
        [-1.0, 1.0, 1.0]
    """
    return torch.where(values >= 0, 1.0, -1.0).to(values.dtype if values.is_floating_point() else torch.float32)


class ItemCodeState(nn.Module):
    """Outputs of each stream, binary codes B and (optionally) labels of every training item, as buffers.

    Args:
        num_items: N, the number of training items.
        hash_bits: K.
        labels: (N, C) multi-hot labels of the training set, kept as the buffer ``labels`` (None: no buffer).
        streams: names of the per-item outputs, each kept as the buffer ``<stream>_outputs`` (N, K).
        generator: the random generator the starting outputs are drawn from (the trainer seeds it with the run's
            seed); None draws from torch's global generator.

    B starts as sign(Σ_s outputs_s), like every later discrete step with unit weights.
    """

    def __init__(
        self,
        num_items: int,
        hash_bits: int,
        labels: torch.Tensor | None = None,
        streams: tuple[str, ...] = ("image", "text"),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if labels is not None and labels.shape[0] != num_items:
            raise ValueError(f"labels hold {labels.shape[0]} rows for a training set of {num_items} items.")
        self.streams = tuple(streams)
        if labels is not None:
            self.register_buffer("labels", labels.float().clone())
        for stream in self.streams:
            self.register_buffer(f"{stream}_outputs", torch.randn(num_items, hash_bits, generator=generator))
        self.register_buffer("codes", torch.zeros(num_items, hash_bits))
        self.register_buffer("code_updates", torch.zeros((), dtype=torch.long))
        self.codes.copy_(self._weighted_codes({}))

    def outputs(self, stream: str) -> torch.Tensor:
        """The (N, K) recorded outputs of ``stream`` (F for ``"image"``, G for ``"text"``)."""
        if stream not in self.streams:
            raise ValueError(f"This state records {list(self.streams)}, not {stream!r}.")
        return getattr(self, f"{stream}_outputs")

    @torch.no_grad()
    def record(self, stream: str, sample_index: torch.Tensor, values: torch.Tensor) -> None:
        """Store a batch's (detached) outputs of ``stream`` at the rows ``sample_index``."""
        target = self.outputs(stream)
        target[sample_index.to(target.device)] = values.detach().to(device=target.device, dtype=target.dtype)

    def _weighted_codes(self, weights: dict[str, float]) -> torch.Tensor:
        total = sum(weights.get(stream, 1.0) * self.outputs(stream) for stream in self.streams)
        return sign_codes(total)

    @torch.no_grad()
    def update_codes(self, weights: dict[str, float] | None = None) -> None:
        """The discrete step over the whole training set: B = sign(Σ_s w_s · outputs_s), sign(0) = +1.

        ``weights`` maps a stream to w_s (1 for a stream it leaves out).
        """
        self.codes.copy_(self._weighted_codes(weights or {}))
        self.code_updates += 1
