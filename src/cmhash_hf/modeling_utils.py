"""`CrossModalHashPreTrainedModel`: the two-tower base every hashing method extends.

An image tower and a text tower (see `cmhash_hf.encoders`) each end in a hash layer of ``hash_bits`` units whose
continuous output lies in (-1, 1); the sign of that output is the binary code. Methods add their extra networks
and losses and declare how they train through the *training protocol* below, which is all `cmhash_hf.training`
knows about them.

Training protocol (class attributes and hooks a method may override):

- ``training_steps``: names of the optimisation steps; each gets its own optimiser over ``step_parameters(step)``.
- ``own_param_groups()``: parameters that train in an AdamW param group of their own (name, learning rate,
  weight decay) instead of the ``heads`` / ``encoder`` groups (DBRC's tanh scales; none by default).
- ``step_schedule``: ``"batch"`` runs every step on each batch in turn; ``"epoch"`` makes one pass over the
  training data per step (DCMH's "update the image net with G fixed, then the text net with F fixed").
- ``steps_for_epoch(epoch, num_epochs)``: the steps active in an epoch (all by default); a method whose
  stages take turns by epoch returns a subset.
- ``uses_labels``: False for unsupervised methods, whose training never reads labels.
- ``reads_raw_inputs``: True for methods whose loss reads the processed inputs themselves (DBRC reconstructs
  them), so batches built from the feature cache of a frozen encoder still carry them.
- ``modalities_for_step(step)``: which towers a step runs (the others are not computed).
- ``build_hash_layer(input_dim)`` / ``hash_features(modality, features)``: what turns tower features into
  continuous codes (a hash layer by default; CDHTK adds its transfer network here).
- ``compute_loss(step, batch)``: the loss of a step and its named parts, from one `TrainingBatch` (continuous
  outputs, tower features, labels, sample index, training state and the processed inputs).
- ``required_inputs(step, batch)``: the `TrainingBatch` fields a step needs (both modalities' outputs by
  default); `step_loss` checks them before ``compute_loss`` runs and raises one `ValueError` naming the method,
  the step and what is missing. Supervised methods (``uses_labels``) always need ``labels``, and a batch with
  a training state always needs ``sample_index``.
- ``init_training_state(train_labels, num_items, generator)``: per-item state kept across steps (an
  ``nn.Module`` whose buffers are checkpointed with the run, e.g. `ItemCodeState`), or None; its random start
  is drawn from ``generator``, which the trainer seeds with the run's seed.
- ``before_first_epoch(train_labels)``: work done once before the first epoch of a fresh run, on the labels
  alone (DCPH trains and fixes its proxies); a resumed run skips it (its checkpoint holds the result).
- ``update_training_state(state, step, image_embeds, text_embeds, sample_index)``: called after each optimiser
  step with the batch outputs gathered from every process.
- ``on_epoch_end(state, epoch)``: e.g. DCMH's B = sign(γ(F + G)).

Example:
    >>> from cmhash_hf import AutoConfig, CrossModalHashModel
    >>> model = CrossModalHashModel.from_config(AutoConfig.for_model("dcmh", hash_bits=16, num_classes=4))
    >>> import torch
    >>> model.encode_image(pixel_values=torch.zeros(2, 3, 32, 32)).dtype
    torch.int8
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from torch import nn
from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.utils import cached_file

from .configuration_utils import CrossModalHashConfig
from .batch_encoding import encode_inputs
from .file_utils import (
    CHECKSUM_FILE,
    read_checksum_manifest,
    staged_files,
    verify_checksum_manifest,
    write_checksum_manifest,
)
from .encoders import build_encoder, kind_of
from .modeling_outputs import CrossModalHashOutput
from .processing import CrossModalHashProcessor
from .training_batch import TrainingBatch, missing_inputs_message

IMAGE_INPUT_NAMES = ("pixel_values", "image_features", "image_tower_outputs")
TEXT_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids", "text_features", "text_tower_outputs")
#: Keyword arguments of `from_pretrained` that say where and how to fetch files.
HUB_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")


def binarize(values: torch.Tensor) -> torch.Tensor:
    """Map continuous outputs to int8 codes in {-1, +1}; zero goes to +1 so no code is ever 0.

    Example:
        >>> binarize(torch.tensor([[-0.2, 0.0, 0.7]])).tolist()
        [[-1, 1, 1]]
    """
    return torch.where(values >= 0, 1, -1).to(torch.int8)


def load_hash_config(pretrained_model_name_or_path: str, **hub_kwargs: Any) -> CrossModalHashConfig:
    """Read the config of a checkpoint (local folder or Hub id) and check it is a cmhash-hf hashing model.

    Raises:
        OSError: the folder or repo holds no ``config.json``.
        ValueError: the checkpoint is of a model that is not a registered hashing method.
    """
    no_checkpoint = OSError(
        f"{pretrained_model_name_or_path} holds no checkpoint: no config.json was found there "
        "(expected a folder written by save_pretrained, or a Hub model id)."
    )
    folder = Path(pretrained_model_name_or_path) / hub_kwargs.get("subfolder", "")
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise no_checkpoint
    try:
        config_path = cached_file(str(pretrained_model_name_or_path), "config.json", **hub_kwargs)
    except OSError:
        raise no_checkpoint from None
    try:
        json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise OSError(
            f"{config_path} is not valid JSON ({err}): the config file is damaged; save the model again or restore "
            "the file."
        ) from None
    try:
        config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
    except ValueError as err:
        raise ValueError(
            f"{pretrained_model_name_or_path} does not hold a cmhash-hf hashing model: {err}".splitlines()[0]
        ) from None
    except OSError:
        raise no_checkpoint from None
    if not isinstance(config, CrossModalHashConfig):
        raise ValueError(
            f"{pretrained_model_name_or_path} holds a {config.model_type!r} checkpoint, which is not a cmhash-hf "
            "hashing model."
        )
    return config


def _weight_names(folder: str | os.PathLike) -> str:
    names = sorted(p.name for p in Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []
    return ", ".join(names) or "model.safetensors"


def save_model_files(save: Any, save_directory: str | os.PathLike, **kwargs: Any) -> None:
    """Run ``save`` (a `save_pretrained`) into a staging folder and switch its files into ``save_directory``
    together (`cmhash_hf.file_utils.staged_files`), with ``checksums.json`` recording each weights file.

    A failure part-way (disk full) leaves the files already in ``save_directory`` as they were; weights files
    of an earlier save that this one did not write (other shards) are removed.
    """
    folder = Path(save_directory)
    with staged_files(folder) as staging:
        save(staging, **kwargs)
        (staging / "README.md").unlink(missing_ok=True)  # the card is written afterwards, from the final folder
        weights = [p.name for p in staging.iterdir() if p.name.endswith((".safetensors", ".safetensors.index.json"))]
        write_checksum_manifest(staging, weights)
    for old in folder.glob("model*.safetensors*"):
        if old.name not in weights:
            old.unlink()


def verify_weights(pretrained_model_name_or_path: str, **hub_kwargs: Any) -> None:
    """Check the weights files of a checkpoint against its ``checksums.json`` when it has one.

    Raises:
        OSError: a weights file differs from the checksum recorded when it was saved (it names the file).
    """
    manifest = cached_file(pretrained_model_name_or_path, CHECKSUM_FILE, _raise_exceptions_for_missing_entries=False,
                           _raise_exceptions_for_connection_errors=False, **hub_kwargs)
    if manifest is None:  # saved before checksums were recorded, or elsewhere: nothing to check
        return
    paths = {}
    for name in read_checksum_manifest(manifest):
        try:
            paths[name] = cached_file(pretrained_model_name_or_path, name, **hub_kwargs)
        except OSError:
            raise OSError(
                f"{pretrained_model_name_or_path} lists {name} in {CHECKSUM_FILE} but the file is missing: the "
                "checkpoint is incomplete; save or download it again."
            ) from None
    verify_checksum_manifest(Path(manifest).parent, manifest_path=manifest, paths=paths)


class HashLayer(nn.Module):
    """Linear projection to ``hash_bits`` units followed by tanh: continuous codes in (-1, 1)."""

    def __init__(self, input_dim: int, hash_bits: int) -> None:
        super().__init__()
        self.projection = nn.Linear(input_dim, hash_bits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.projection(features))


class CrossModalHashPreTrainedModel(PreTrainedModel):
    """Base class of every hashing method: towers, hash layers, encoding, validation and the training protocol.

    Subclasses build their extra networks after ``super().__init__(config)`` and end ``__init__`` with
    ``self.post_init()``; they implement ``compute_loss`` and whichever training hooks they need.
    """

    config_class = CrossModalHashConfig
    base_model_prefix = "cmhash"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _no_split_modules: list[str] = []

    training_steps: tuple[str, ...] = ("joint",)
    step_schedule: str = "batch"
    uses_labels: bool = True
    reads_raw_inputs: bool = False

    def __init__(self, config: CrossModalHashConfig) -> None:
        super().__init__(config)
        self.image_tower = build_encoder(config.image_encoder)
        self.text_tower = build_encoder(config.text_encoder)
        self.image_hash = self.build_hash_layer(self.image_tower.output_dim)
        self.text_hash = self.build_hash_layer(self.text_tower.output_dim)

    # ----------------------------------------------------------------- building and loading
    def build_hash_layer(self, input_dim: int) -> nn.Module:
        """The module that maps a tower's features to continuous codes in (-1, 1); methods may override."""
        return HashLayer(input_dim, self.config.hash_bits)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """LeCun-normal linear layers (std 1/sqrt(fan_in)) for our own towers, hash layers and extra networks.

        The transformers default (std 0.02) starts MLP towers and hash layers with outputs near 0, where tanh
        codes carry no signal and training crawls. Encoders built by `AutoModel` keep their own initialisation.
        """
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, *model_args: Any, **kwargs: Any):
        """Load a checkpoint of *this* method; a checkpoint of another method or model is a clear error."""
        config = kwargs.get("config")
        if not isinstance(config, PreTrainedConfig):
            hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
            config = load_hash_config(pretrained_model_name_or_path, **hub_kwargs)
            kwargs["config"] = config
        expected = cls.config_class.model_type
        if cls.config_class is not CrossModalHashConfig and config.model_type != expected:
            raise ValueError(
                f"{pretrained_model_name_or_path} holds a {config.model_type!r} checkpoint, not a {expected!r} one; "
                "load it with CrossModalHashModel.from_pretrained(...) to get the right class."
            )
        hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
        verify_weights(str(pretrained_model_name_or_path), **hub_kwargs)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)
        except SafetensorError as err:
            raise OSError(
                f"The weights file of {pretrained_model_name_or_path} ({_weight_names(pretrained_model_name_or_path)}) "
                f"cannot be read: {err}. It is truncated or damaged; save the model again or download it again."
            ) from None

    #: Set by `cmhash_hf.hub` when the package is imported (the model module knows nothing of the Hub): the model
    #: card writer that `save_pretrained` calls, and the uploader of a folder that `push_to_hub` calls.
    card_writer: ClassVar[Callable[..., Any] | None] = None
    folder_pusher: ClassVar[Callable[..., Any] | None] = None

    def save_pretrained(self, save_directory: str | os.PathLike, is_main_process: bool = True, **kwargs: Any) -> None:
        """`PreTrainedModel.save_pretrained`, then the model card ``README.md`` (see `cmhash_hf.hub.model_card`).

        The card takes its results and training settings from ``results.json`` and ``training_args.json`` in the
        folder when they are there; a hand-written ``README.md`` is kept. With ``push_to_hub=True`` the folder is
        then uploaded by `cmhash_hf.hub.push_folder` (``repo_id`` defaults to the folder name), card included.
        """
        push = kwargs.pop("push_to_hub", False)
        hub_args = {name: kwargs.pop(name, None) for name in ("repo_id", "private", "commit_message")}
        if not is_main_process:
            super().save_pretrained(save_directory, is_main_process=False, **kwargs)
            return
        save_model_files(super().save_pretrained, save_directory, **kwargs)
        if self.card_writer is not None:
            self.card_writer(save_directory, self.config)
        if push:
            self._pusher()(save_directory, hub_args["repo_id"] or Path(save_directory).name, private=hub_args["private"],
                           token=kwargs.get("token"), commit_message=hub_args["commit_message"])

    def _pusher(self) -> Callable[..., Any]:
        if self.folder_pusher is None:
            raise RuntimeError("cmhash_hf.hub is not imported, so nothing can push: `import cmhash_hf` registers it")
        return self.folder_pusher

    def push_to_hub(
        self,
        repo_id: str,
        *,
        processor: Any = None,
        index: Any = None,
        results: dict[str, Any] | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        commit_message: str | None = None,
    ) -> Any:
        """Upload this model (with its ``processor``, card, and a collection when given: a folder written by
        ``cmhash index`` or a `cmhash_hf.retrieval.Collection`) to ``repo_id`` in one commit; returns the
        `huggingface_hub.CommitInfo`.

        ``results`` (a ``results.json`` dict) fills the card's ``model-index``.

        Usage (needs the network and a token, so it is not a doctest; tests/test_hub_push.py checks it at the
        `HfApi` boundary)::

            model.push_to_hub("some-org/dcmh-shapes-32bit", processor=processor)
        """
        push = self._pusher()
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            if processor is not None:
                processor.save_pretrained(folder)
            index_dir = getattr(index, "folder", index)
            return push(folder, repo_id, private=private, token=token, index_dir=index_dir,
                        commit_message=commit_message, results=results)

    # ----------------------------------------------------------------- continuous outputs
    def _tower_features(self, modality: str, **inputs: torch.Tensor | None) -> torch.Tensor:
        """One modality's tower output for a batch; the tower's kind checks the inputs (`TowerKind.tower_inputs`)."""
        spec = self.config.image_encoder if modality == "image" else self.config.text_encoder
        tower = self.image_tower if modality == "image" else self.text_tower
        cached = inputs.get(f"{modality}_tower_outputs")
        if cached is not None:  # the tower's own output, read from the feature cache of a frozen encoder
            if cached.dim() != 2 or cached.shape[1] != tower.output_dim:
                raise ValueError(f"{modality}_tower_outputs must have shape (batch, {tower.output_dim}), got "
                                 f"{tuple(cached.shape)}.")
            return cached.to(device=self.device, dtype=self.dtype)
        return tower(**kind_of(spec).tower_inputs(spec, modality, inputs, self.device, self.dtype))

    def get_image_features(
        self,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        image_tower_outputs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Continuous image outputs in (-1, 1), shape (batch, hash_bits).

        ``image_tower_outputs`` (the image tower's own outputs, as the trainer's feature cache holds them for a
        frozen encoder) skip the tower.
        """
        features = self._tower_features(
            "image", pixel_values=pixel_values, image_features=image_features, image_tower_outputs=image_tower_outputs
        )
        return self.hash_features("image", features)

    def get_text_features(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        text_tower_outputs: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Continuous text outputs in (-1, 1), shape (batch, hash_bits); see `get_image_features`."""
        features = self._tower_features(
            "text",
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            text_features=text_features,
            text_tower_outputs=text_tower_outputs,
        )
        return self.hash_features("text", features)

    def hash_features(self, modality: str, features: torch.Tensor) -> torch.Tensor:
        """Tower features of one modality → continuous codes; its hash layer by default (methods that add
        networks between tower and code, e.g. a transfer network, override this one step)."""
        return (self.image_hash if modality == "image" else self.text_hash)(features)

    # ----------------------------------------------------------------- binary codes
    def codes_from_embeds(self, embeds: torch.Tensor) -> torch.Tensor:
        """Binary codes from continuous outputs; the sign by default (methods with another hash function override)."""
        return binarize(embeds)

    @contextlib.contextmanager
    def _evaluation_mode(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    @staticmethod
    def _pick_inputs(names: tuple[str, ...], other: tuple[str, ...], inputs: dict[str, Any], what: str) -> dict:
        unknown = set(inputs) - set(names) - set(other)
        if unknown:
            raise TypeError(f"{what}() got unexpected inputs {sorted(unknown)}; it takes {list(names)}.")
        return {k: inputs[k] for k in names if k in inputs}

    def encode_image(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Image codes: int8 tensor of shape (batch, hash_bits) with values in {-1, +1}.

        Runs in evaluation mode without gradients (the model's training flag is restored afterwards). Accepts the
        output of ``CrossModalHashProcessor(images=...)``; text inputs in the same dict are ignored.
        """
        picked = self._pick_inputs(IMAGE_INPUT_NAMES, TEXT_INPUT_NAMES + ("labels",), inputs, "encode_image")
        with self._evaluation_mode():
            return self.codes_from_embeds(self.get_image_features(**picked))

    def encode_text(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Text codes: int8 tensor of shape (batch, hash_bits) with values in {-1, +1}; see `encode_image`."""
        picked = self._pick_inputs(TEXT_INPUT_NAMES, IMAGE_INPUT_NAMES + ("labels",), inputs, "encode_text")
        with self._evaluation_mode():
            return self.codes_from_embeds(self.get_text_features(**picked))

    def encode(
        self,
        images: Any = None,
        texts: Any = None,
        *,
        processor: Any = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        precision: str = "int8",
    ) -> Any:
        """Codes of lists of pictures (PIL images, arrays, file paths) and/or strings, in batches through the processor.

        ``processor`` defaults to the one saved with the model (loaded once from ``name_or_path``). Returns int8
        codes in {-1, +1}, or packed ``uint8`` rows with ``precision="ubinary"`` (``np.packbits(code > 0)``, most
        significant bit first: the layout of sentence-transformers, FAISS, Milvus and pgvector); a pair when both
        images and texts are given. See `cmhash_hf.batch_encoding.encode_inputs`.

        Raises:
            ValueError: no processor is given and the model was not loaded from a folder or Hub id that has one.
        """
        if processor is None:
            processor = getattr(self, "_cmhash_processor", None)
        if processor is None:
            if not self.name_or_path:
                raise ValueError("This model was not loaded from a folder or Hub id: pass processor=... to encode")
            processor = CrossModalHashProcessor.from_pretrained(self.name_or_path)
            self._cmhash_processor = processor
        return encode_inputs(self, processor, images=images, texts=texts, batch_size=batch_size,
                             show_progress_bar=show_progress_bar, precision=precision)

    # ----------------------------------------------------------------- forward
    def _check_labels(self, labels: torch.Tensor, batch_size: int | None) -> torch.Tensor:
        labels = torch.as_tensor(labels)
        if labels.dim() != 2:
            raise ValueError(f"labels must be a multi-hot matrix of shape (batch, num_classes), got {tuple(labels.shape)}.")
        if self.config.num_classes and labels.shape[1] != self.config.num_classes:
            raise ValueError(
                f"labels have width {labels.shape[1]} but this model was configured for {self.config.num_classes} "
                "classes (config.num_classes)."
            )
        if batch_size is not None and labels.shape[0] != batch_size:
            raise ValueError(f"labels hold {labels.shape[0]} rows for a batch of {batch_size} items.")
        return labels.to(device=self.device, dtype=torch.float32)

    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        sample_index: torch.Tensor | None = None,
        image_tower_outputs: torch.Tensor | None = None,
        text_tower_outputs: torch.Tensor | None = None,
        training_step: str | None = None,
        training_state: nn.Module | None = None,
        return_loss: bool | None = None,
        **kwargs: Any,
    ) -> CrossModalHashOutput:
        """Run the towers that have inputs (and that ``training_step`` needs) and, when asked, the loss.

        The loss is computed when ``return_loss`` is True, or by default when ``labels`` or ``training_step`` is
        given. With a ``training_step`` only the towers that step needs run and the loss is that step's; without
        one, every tower with inputs runs and the loss is `joint_loss` (the sum of all steps' losses by default).
        ``sample_index`` (positions in the training set) and ``training_state`` are passed by the trainer to
        methods that keep per-item state.
        """
        if kwargs:
            raise TypeError(f"forward() got unexpected inputs {sorted(kwargs)}.")
        if training_step is not None and training_step not in self.training_steps:
            raise ValueError(
                f"Unknown training step {training_step!r} for {type(self).__name__}; steps: {self.training_steps}."
            )
        wanted = self.modalities_for_step(training_step) if training_step else {"image", "text"}
        inputs = {
            "pixel_values": pixel_values, "image_features": image_features, "input_ids": input_ids,
            "attention_mask": attention_mask, "token_type_ids": token_type_ids, "text_features": text_features,
        }
        has_image = any(x is not None for x in (pixel_values, image_features, image_tower_outputs))
        has_text = any(x is not None for x in (input_ids, text_features, text_tower_outputs))
        image_tower = text_tower = image_embeds = text_embeds = None
        if has_image and "image" in wanted:
            image_tower = self._tower_features(
                "image", pixel_values=pixel_values, image_features=image_features,
                image_tower_outputs=image_tower_outputs,
            )
            image_embeds = self.hash_features("image", image_tower)
        if has_text and "text" in wanted:
            text_tower = self._tower_features(
                "text", input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                text_features=text_features, text_tower_outputs=text_tower_outputs,
            )
            text_embeds = self.hash_features("text", text_tower)
        sizes = {t.shape[0] for t in (image_embeds, text_embeds) if t is not None}
        if len(sizes) > 1:
            raise ValueError(
                f"The image batch ({image_embeds.shape[0]} items) and the text batch ({text_embeds.shape[0]} items) "
                "differ in length; pairs must line up."
            )
        batch_size = next(iter(sizes)) if sizes else None
        if labels is not None:
            labels = self._check_labels(labels, batch_size)
        if return_loss is None:
            return_loss = labels is not None or training_step is not None
        loss, terms = None, None
        if return_loss:
            if sample_index is not None:
                sample_index = torch.as_tensor(sample_index, device=self.device, dtype=torch.long)
            batch = TrainingBatch(
                image_embeds=image_embeds,
                text_embeds=text_embeds,
                labels=labels,
                sample_index=sample_index,
                state=training_state,
                image_tower_outputs=image_tower,
                text_tower_outputs=text_tower,
                inputs={name: value for name, value in inputs.items() if value is not None},
            )
            if training_step is None:
                loss, terms = self.joint_loss(batch)
            else:
                loss, terms = self.step_loss(training_step, batch)
        return CrossModalHashOutput(
            loss=loss,
            image_embeds=image_embeds,
            text_embeds=text_embeds,
            image_codes=None if image_embeds is None else self.codes_from_embeds(image_embeds.detach()),
            text_codes=None if text_embeds is None else self.codes_from_embeds(text_embeds.detach()),
            loss_terms=terms,
        )

    # ----------------------------------------------------------------- training protocol
    def steps_for_epoch(self, epoch: int, num_epochs: int) -> tuple[str, ...]:
        """The training steps active in ``epoch`` (0-based) of ``num_epochs``; all of them by default."""
        return tuple(self.training_steps)

    def modalities_for_step(self, step: str) -> set[str]:
        """The towers a training step runs; both by default."""
        return {"image", "text"}

    def step_parameters(self, step: str) -> list[nn.Parameter]:
        """Parameters the optimiser of ``step`` updates; all trainable parameters by default."""
        return [p for p in self.parameters() if p.requires_grad]

    def own_param_groups(self) -> list[dict[str, Any]]:
        """Parameters that train in an AdamW param group of their own: a list of ``{"name", "params", "lr",
        "weight_decay"}`` dicts (none by default). The trainer takes them out of each step's ``encoder`` /
        ``heads`` groups (`cmhash_hf.training.optimization.param_groups`); DBRC's tanh scales use it."""
        return []

    def encoder_towers(self) -> dict[str, nn.Module]:
        """The towers started from pretrained weights (their spec names a ``name_or_path``), by modality.

        Their parameters are the "encoder parameters" of training: they take ``encoder_learning_rate`` and are
        what ``freeze_encoders`` freezes (and caches the outputs of). Towers that start from random weights (a
        preset's backbone, MLP towers) train like the hash layers: freezing a random tower would leave its side
        with random features.
        """
        towers = {"image": (self.config.image_encoder, self.image_tower), "text": (self.config.text_encoder, self.text_tower)}
        return {modality: tower for modality, (spec, tower) in towers.items() if kind_of(spec).pretrained_name(spec)}

    def tower_parameters(self, modality: str) -> list[nn.Parameter]:
        """Parameters of one modality's tower and hash layer."""
        tower, head = (self.image_tower, self.image_hash) if modality == "image" else (self.text_tower, self.text_hash)
        return [p for module in (tower, head) for p in module.parameters() if p.requires_grad]

    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """The `TrainingBatch` fields ``step`` needs: both modalities' outputs by default.

        Methods narrow or widen this per step (DCMH's ``"image"`` step needs the image outputs, and the text ones
        too when there is no training state); `step_loss` adds ``labels`` for supervised methods and
        ``sample_index`` whenever the batch carries a training state.
        """
        return ("image_embeds", "text_embeds")

    def step_loss(self, step: str, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Check that ``batch`` holds what ``step`` needs, then return ``compute_loss(step, batch)``.

        Raises:
            ValueError: one message naming the method, the step and every missing input.
        """
        needed = list(self.required_inputs(step, batch))
        if self.uses_labels:
            needed.append("labels")
        if batch.state is not None:
            needed.append("sample_index")
        missing = batch.missing(dict.fromkeys(needed))
        if missing:
            raise ValueError(missing_inputs_message(type(self).__name__, step, missing))
        return self.compute_loss(step, batch)

    def compute_loss(self, step: str, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one training step and its named parts (detached); every method implements it.

        ``batch`` has been checked against `required_inputs` (through `step_loss`), so the fields the step
        declared are there.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define compute_loss.")

    def joint_loss(self, batch: TrainingBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of ``forward`` without a ``training_step``: the sum over every step, terms named ``step/part``.

        Methods whose steps play against each other (adversarial ones) override this with their generator loss.
        """
        total, terms = None, {}
        for step in self.training_steps:
            loss, parts = self.step_loss(step, batch)
            total = loss if total is None else total + loss
            terms.update({f"{step}/{name}": value for name, value in parts.items()})
        return total, terms

    def init_training_state(
        self, train_labels: torch.Tensor | None, num_items: int, generator: torch.Generator | None = None
    ) -> nn.Module | None:
        """Per-item state kept across steps (checkpointed with the run); none by default.

        ``generator`` (seeded by the trainer from the run's seed) draws any random start of the state.
        """
        return None

    def before_first_epoch(self, train_labels: torch.Tensor | None) -> None:
        """Work done once before the first epoch of a fresh run (not on resume); nothing by default.

        ``train_labels`` are the training set's multi-hot labels (None for unsupervised methods).
        """

    def update_training_state(
        self,
        state: nn.Module | None,
        step: str,
        image_embeds: torch.Tensor | None,
        text_embeds: torch.Tensor | None,
        sample_index: torch.Tensor,
    ) -> None:
        """Record a step's (gathered, detached) batch outputs in the per-item state; nothing by default."""

    def on_epoch_end(self, state: nn.Module | None, epoch: int) -> None:
        """Work done once per epoch after all steps (e.g. a discrete code update); nothing by default."""
