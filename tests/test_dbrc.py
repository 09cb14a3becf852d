"""What makes DBRC DBRC: label-free training through the CLI, a reconstruction loss that falls, growing tanh
scales, and codes that come from the one shared binary layer."""

from __future__ import annotations

import json

import pytest
import torch

from cmhash_hf import CrossModalHashModel
from cmhash_hf.cli import main
from cmhash_hf.data import CrossModalCollator, IndexedRows, load_cross_modal_dataset
from cmhash_hf.data.shapes import build_shapes_dataset
from cmhash_hf.methods.dbrc import DBRCConfig
from cmhash_hf.processing import CrossModalHashProcessor
from cmhash_hf.training.optimization import param_groups
from method_cases import BATCH, HASH_BITS, tiny_batch, tiny_model


@pytest.fixture(scope="module")
def unlabelled_shapes(tmp_path_factory):
    """builtin:shapes saved to disk with its labels column removed."""
    folder = tmp_path_factory.mktemp("data") / "unlabelled-shapes"
    build_shapes_dataset(num_items=240).remove_columns("labels").save_to_disk(str(folder))
    return folder


@pytest.fixture(scope="module")
def dbrc_run(unlabelled_shapes, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "dbrc16"
    argv = ["train", "--method", "dbrc", "--dataset", str(unlabelled_shapes), "--preset", "cpu", "--bits", "16",
            "--epochs", "4", "--batch-size", "30", "--set", "saturation_weight=10", "--set", "scale_learning_rate=0.1",
            "--output-dir", str(out)]
    assert main(argv) == 0
    return out


def test_a_dataset_without_labels_loads_and_batches_without_labels(unlabelled_shapes):
    data = load_cross_modal_dataset(str(unlabelled_shapes))
    assert data.label_names == [] and data.num_labels == 0 and data.multi_hot().shape == (240, 0)
    processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="bow")
    collator = CrossModalCollator(processor, data.num_labels, data.labels_are_indices)
    batch = collator([IndexedRows(data, collator.columns)[i] for i in range(3)])
    assert "labels" not in batch and batch["sample_index"].tolist() == [0, 1, 2]


def test_dbrc_trains_without_labels_and_its_reconstruction_loss_falls(dbrc_run):
    config = json.loads((dbrc_run / "config.json").read_text())
    assert config["model_type"] == "dbrc" and config["num_classes"] == 0
    log = [json.loads(line) for line in (dbrc_run / "train_log.jsonl").read_text().splitlines()]
    assert {row["epoch"] for row in log} == {1, 2, 3, 4}

    def reconstruction(epoch: int) -> float:
        rows = [r for r in log if r["epoch"] == epoch]
        return sum(r["joint/image_reconstruction"] + r["joint/text_reconstruction"] for r in rows) / len(rows)

    assert reconstruction(4) < 0.9 * reconstruction(1)

    def saturation(epoch: int) -> float:
        rows = [r["joint/saturation"] for r in log if r["epoch"] == epoch]
        return sum(rows) / len(rows)

    assert saturation(4) < 0.8 * saturation(1)  # the outputs move towards ±1
    alpha = CrossModalHashModel.from_pretrained(dbrc_run).binary_layer.activation.alpha
    assert (alpha > 0.3).all()  # grown from 0.1 by the penalty, at the scales' own learning rate


def test_supervised_methods_and_evaluation_refuse_a_dataset_without_labels(unlabelled_shapes, dbrc_run, tmp_path, capsys):
    argv = ["train", "--method", "dcmh", "--dataset", str(unlabelled_shapes), "--preset", "cpu", "--output-dir", str(tmp_path)]
    assert main(argv) == 2
    assert "dcmh is a supervised method but" in capsys.readouterr().err
    assert main(["evaluate", str(dbrc_run)]) == 2
    assert "has no labels: evaluation needs them" in capsys.readouterr().err


def test_codes_of_both_modalities_come_from_the_shared_binary_layer():
    model = tiny_model("dbrc")
    pattern = torch.tensor([1.0, -1.0] * (HASH_BITS // 2))
    with torch.no_grad():
        model.binary_layer.projection.weight.zero_()
        model.binary_layer.projection.bias.copy_(pattern)
    batch = tiny_batch()
    expected = pattern.to(torch.int8).expand(BATCH, -1)
    assert torch.equal(model.encode_image(pixel_values=batch["pixel_values"]), expected)
    assert torch.equal(model.encode_text(input_ids=batch["input_ids"]), expected)


@pytest.mark.parametrize("scaling", ["linear", "nonlinear"])
def test_adaptive_tanh_and_its_penalty(scaling):
    model = tiny_model("dbrc", scaling=scaling, initial_scale=2.0)
    activation = model.binary_layer.activation
    assert torch.allclose(activation.alpha.detach(), torch.full((HASH_BITS,), 2.0))
    assert (activation.beta is None) == (scaling == "linear")
    z = torch.linspace(-1, 1, HASH_BITS)
    expected = 2.0 * z if scaling == "linear" else 2.0 * z + 0.01 * z**3  # β starts at 0.01
    assert torch.allclose(activation(z), torch.tanh(expected))
    out = model(**tiny_batch(), return_loss=True)
    outputs = [out.image_embeds.detach(), out.text_embeds.detach()]
    by_hand = sum(((1 - u.abs()) ** 2).sum() / u.numel() for u in outputs) / 2
    assert out.loss_terms["joint/saturation"].item() == pytest.approx(by_hand.item(), rel=1e-6)
    model.zero_grad()
    model.config.image_reconstruction_weight = model.config.text_reconstruction_weight = 0.0
    model(**tiny_batch(), return_loss=True).loss.backward()
    assert (activation.raw_alpha.grad < 0).all()  # the penalty alone grows every α


@pytest.mark.parametrize("scaling", ["linear", "nonlinear"])
def test_the_scales_stay_positive_and_the_scaling_monotone_for_any_raw_values(scaling):
    activation = tiny_model("dbrc", scaling=scaling).binary_layer.activation
    z = torch.linspace(-3, 3, 601).unsqueeze(1).expand(-1, HASH_BITS)
    with torch.no_grad():
        activation.raw_alpha.copy_(torch.linspace(-40, 5, HASH_BITS))
        if activation.raw_beta is not None:
            activation.raw_beta.copy_(torch.linspace(5, -40, HASH_BITS))
    assert (activation.alpha > 0).all() and (activation.beta is None or (activation.beta > 0).all())
    with torch.no_grad():
        scaled = torch.atanh(activation(z).clamp(-1 + 1e-7, 1 - 1e-7))  # the scaling itself, before the tanh
    assert (scaled.diff(dim=0) >= 0).all() and torch.equal(scaled.sign(), z.sign())


def _mean_abs_output_after_training(saturation_weight: float) -> tuple[float, torch.Tensor]:
    """A fixed 40-step AdamW loop (the trainer's param groups, scales at 0.1) on one tiny batch; mean |u| of
    both modalities' shared-layer outputs, and α."""
    model = tiny_model("dbrc", saturation_weight=saturation_weight, scale_learning_rate=0.1)
    optimizer = torch.optim.AdamW(param_groups(model, list(model.parameters()), 1e-3, None, 0.0))
    batch = tiny_batch()
    for _ in range(40):
        optimizer.zero_grad()
        model(**batch, return_loss=True).loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = model(**batch)
    mean_abs = torch.cat([out.image_embeds, out.text_embeds]).abs().mean().item()
    return mean_abs, model.binary_layer.activation.alpha.detach()


def test_a_larger_saturation_weight_saturates_the_codes_more():
    """The weight matters under AdamW: the reconstruction pulls α down and the penalty up, and the weight sets
    where they meet (with mean(1/α²), weights 1 and 100 gave the same α). α stays positive."""
    low, alpha_low = _mean_abs_output_after_training(1.0)
    high, alpha_high = _mean_abs_output_after_training(10.0)
    assert high > low + 0.1, (low, high)
    assert alpha_high.mean() > alpha_low.mean() + 0.5, (alpha_low.mean(), alpha_high.mean())
    assert (alpha_low > 0).all() and (alpha_high > 0).all()


def _train_on_features(normalize: bool, saturation_weight: float) -> tuple[list[tuple[float, int, int]], float]:
    """150 AdamW steps (the trainer's param groups) of DBRC, 8 bits, feature towers, on 64 fixed non-negative
    image vectors and texts that depend on them; then, at query time, per modality: mean |u|, bits constant over
    the 64 items, distinct codes; and the mean α."""
    torch.manual_seed(0)
    spec = lambda width: {"kind": "features", "input_dim": width, "hidden_dims": [32]}  # noqa: E731
    config = DBRCConfig(hash_bits=8, shared_dim=32, decoder_hidden_dim=32, image_encoder=spec(12),
                        text_encoder=spec(6), saturation_weight=saturation_weight,
                        normalize_pre_activations=normalize, scale_learning_rate=0.05)
    model = CrossModalHashModel.from_config(config).train()
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(64, 12, generator=generator)  # non-negative, like Wiki's histograms
    texts = images[:, :6] + 0.1 * torch.rand(64, 6, generator=generator)
    optimizer = torch.optim.AdamW(param_groups(model, list(model.parameters()), 1e-2, None, 0.0))
    for _ in range(150):
        optimizer.zero_grad()
        model(image_features=images, text_features=texts, return_loss=True).loss.backward()
        optimizer.step()
    with torch.no_grad():
        out = model.eval()(image_features=images, text_features=texts)
    measured = []
    for u in (out.image_embeds, out.text_embeds):
        signs = u > 0
        constant = int((signs.all(0) | ~signs.any(0)).sum())
        measured.append((u.abs().mean().item(), constant, torch.unique(signs, dim=0).shape[0]))
    return measured, model.binary_layer.activation.alpha.mean().item()


def test_the_penalty_saturates_the_codes_by_growing_the_scales():
    """Default (normalised) layer: weight 10 grows α and drives |u| up, every bit still splitting the items;
    weight 0 leaves the codes near 0. Without the normalisation α grows as much but the codes stay far from ±1:
    the layers below shrink the pre-activations to keep the reconstruction in the tanh's linear range."""
    saturated, alpha = _train_on_features(normalize=True, saturation_weight=10.0)
    assert alpha > 2.5
    for mean_abs, constant, distinct in saturated:
        assert mean_abs > 0.65 and constant == 0 and distinct >= 16, (mean_abs, constant, distinct)
    unsaturated, alpha = _train_on_features(normalize=True, saturation_weight=0.0)
    assert alpha < 0.2 and all(mean_abs < 0.2 for mean_abs, _, _ in unsaturated), unsaturated
    shrunk, alpha = _train_on_features(normalize=False, saturation_weight=10.0)
    assert alpha > 2.5 and all(mean_abs < 0.5 for mean_abs, _, _ in shrunk), (alpha, shrunk)


def test_the_penalty_moves_the_scales_alone():
    model = tiny_model("dbrc", image_reconstruction_weight=0.0, text_reconstruction_weight=0.0)
    model(**tiny_batch(), return_loss=True).loss.backward()
    activation = model.binary_layer.activation
    assert (activation.raw_alpha.grad < 0).all()  # it grows every α
    others = [p for name, p in model.named_parameters() if not name.startswith("binary_layer.activation")]
    assert all(p.grad is None or not p.grad.any() for p in others)


def test_the_shared_layer_normalizes_each_modality_on_its_own_statistics():
    """Training: (z − batch mean) / batch std per bit, folded into that modality's running estimates; a query
    alone (eval), and a lone item in training: the running estimates. The other modality's are untouched."""
    model = tiny_model("dbrc").train()
    layer = model.binary_layer
    features = torch.randn(5, model.config.shared_dim)
    eps = layer.norms["image"].eps
    with torch.no_grad():
        layer.norms["text"].running_mean.fill_(0.3)
        layer.norms["text"].running_var.fill_(4.0)
        z = layer.projection(features)
        u = layer(features, "image")
        lone = layer(features[:1], "text")
    by_hand = (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)
    assert torch.allclose(u, layer.activation(by_hand), atol=1e-5)
    assert torch.allclose(layer.norms["image"].running_mean, 0.1 * z.mean(0), atol=1e-6)
    assert torch.allclose(layer.norms["image"].running_var, 0.9 + 0.1 * z.var(0, unbiased=True), atol=1e-5)
    assert torch.allclose(layer.norms["text"].running_mean, torch.full((HASH_BITS,), 0.3))
    assert torch.allclose(lone, layer.activation((z[:1] - 0.3) / (4.0 + eps) ** 0.5), atol=1e-5)
    layer.eval()
    with torch.no_grad():
        alone = layer(features[:1], "text")
    assert torch.allclose(alone, lone)
    with torch.no_grad():
        recomputed = layer.train().batch_pre_activations(features, "text")
    assert torch.allclose(recomputed, (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps), atol=1e-5)
    assert torch.allclose(layer.norms["text"].running_mean, torch.full((HASH_BITS,), 0.3))  # not updated
    with pytest.raises(ValueError, match="modality must be one of"):
        layer(features, "audio")


def test_a_training_step_updates_the_running_estimates_once():
    """The loss recomputes the normalised pre-activations for the penalty without touching the running
    estimates, so one training forward with its loss folds each modality's batch in exactly once."""
    model = tiny_model("dbrc").train()
    batch = tiny_batch()
    model(**batch, return_loss=True)
    image_norm = model.binary_layer.norms["image"]
    assert int(image_norm.num_batches_tracked) == 1 and int(model.binary_layer.norms["text"].num_batches_tracked) == 1
    with torch.no_grad():
        hidden = model.image_hash(model._tower_features("image", pixel_values=batch["pixel_values"]))
        z = model.binary_layer.projection(hidden)
    assert torch.allclose(image_norm.running_mean, 0.1 * z.mean(0), atol=1e-5)


def test_a_checkpoint_from_before_the_normalisation_loads_with_neutral_estimates(tmp_path):
    """Saved DBRC weights without the normaliser's buffers (as before issue 13's normalisation) load with running
    mean 0 and variance 1, so their codes are the signs of the projection, as they were."""
    from safetensors.torch import load_file, save_file

    model = tiny_model("dbrc").eval()
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    old = {name: value for name, value in weights.items() if ".norms." not in name}
    assert len(old) < len(weights)
    save_file(old, tmp_path / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "checksums.json").unlink()  # a folder saved before checksums existed
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    for norm in loaded.binary_layer.norms.values():
        assert torch.equal(norm.running_mean, torch.zeros(HASH_BITS))
        assert torch.equal(norm.running_var, torch.ones(HASH_BITS))
    batch = tiny_batch()
    with torch.no_grad():
        features = loaded._tower_features("image", pixel_values=batch["pixel_values"])
        z = loaded.binary_layer.projection(loaded.image_hash(features))
    assert torch.equal(loaded.encode_image(pixel_values=batch["pixel_values"]), torch.where(z > 0, 1, -1).to(torch.int8))


def test_the_running_estimates_are_saved_with_the_model(tmp_path):
    model = tiny_model("dbrc")
    with torch.no_grad():
        model.binary_layer.norms["image"].running_mean.copy_(torch.linspace(-1, 1, HASH_BITS))
    model.save_pretrained(tmp_path)
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.binary_layer.norms["image"].running_mean, model.binary_layer.norms["image"].running_mean)
    assert torch.equal(loaded.binary_layer.norms["text"].running_mean, torch.zeros(HASH_BITS))
    assert torch.equal(loaded.binary_layer.norms["text"].running_var, torch.ones(HASH_BITS))


def test_the_scales_train_in_their_own_param_group():
    model = tiny_model("dbrc", scale_learning_rate=0.02)
    groups = {group["name"]: group for group in param_groups(model, list(model.parameters()), 1e-3, None, 0.1)}
    scales = {id(p) for p in model.binary_layer.activation.parameters()}
    assert {id(p) for p in groups["scales"]["params"]} == scales
    assert (groups["scales"]["lr"], groups["scales"]["weight_decay"]) == (0.02, 0.0)
    assert not scales & {id(p) for p in groups["heads"]["params"]}
    assert len(groups["heads"]["params"]) + len(scales) == len(list(model.parameters()))
    # a step that does not train the scales gets no scales group, and the group never holds other steps' parameters
    without = [p for p in model.parameters() if id(p) not in scales]
    assert [group["name"] for group in param_groups(model, without, 1e-3, None, 0.1)] == ["heads"]
    alpha_only = [model.binary_layer.activation.raw_alpha]
    assert [(g["name"], g["params"]) for g in param_groups(model, alpha_only, 1e-3, None, 0.1)] == [("scales", alpha_only)]


def test_training_never_reads_labels():
    model = tiny_model("dbrc")
    batch = tiny_batch()
    batch.pop("labels")
    out = model(**batch, training_step="joint")
    assert torch.isfinite(out.loss) and model.uses_labels is False
    assert model.init_training_state(None, BATCH) is None


def test_loss_is_the_weighted_sum_of_its_parts():
    """Distinct weights, every part live: dropping, zeroing or flipping any term of the total changes the sum."""
    weights = {"image_reconstruction": 0.7, "text_reconstruction": 1.9, "saturation": 0.45}
    model = tiny_model("dbrc", **{f"{name}_weight": value for name, value in weights.items()})
    out = model(**tiny_batch(), return_loss=True)
    terms = {name.removeprefix("joint/"): value.item() for name, value in out.loss_terms.items()}
    assert set(terms) == set(weights) and all(value > 0 for value in terms.values()), terms
    assert out.loss.item() == pytest.approx(sum(weights[name] * terms[name] for name in weights), rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"normalize_pre_activations": "yes"}, TypeError,
         "normalize_pre_activations must be true or false, got 'yes'."),
        ({"scale_learning_rate": 0.0}, ValueError, "scale_learning_rate must be positive, got 0.0."),
        ({"scaling": "cubic"}, ValueError, "scaling must be one of ('linear', 'nonlinear'), got 'cubic'."),
        ({"initial_scale": 0.0}, ValueError, "initial_scale must be positive, got 0.0."),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(settings, error, message):
    with pytest.raises(error) as raised:
        DBRCConfig(**settings)
    assert str(raised.value) == message
