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
            "--epochs", "4", "--batch-size", "30", "--method-kwargs", "saturation_weight=1", "--output-dir", str(out)]
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

    assert saturation(4) < 0.9 * saturation(1)  # the outputs move towards ±1
    alpha = CrossModalHashModel.from_pretrained(dbrc_run).binary_layer.activation.alpha
    assert (alpha > 0).all()


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
    """A fixed 40-step AdamW loop on one tiny batch; mean |u| of both modalities' shared-layer outputs."""
    model = tiny_model("dbrc", saturation_weight=saturation_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
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
    """The weight matters under AdamW (it did not when the penalty acted on α alone) and α stays positive."""
    low, alpha_low = _mean_abs_output_after_training(0.01)
    high, alpha_high = _mean_abs_output_after_training(10.0)
    assert high > low + 0.1, (low, high)
    assert (alpha_low > 0).all() and (alpha_high > 0).all()


def _train_on_features(centre: bool, saturation_weight: float) -> list[tuple[float, int, int]]:
    """150 AdamW steps of DBRC (8 bits, feature towers) on 64 fixed non-negative image vectors and texts that
    depend on them; then, at query time, per modality: mean |u|, bits constant over the 64 items, distinct codes."""
    torch.manual_seed(0)
    spec = lambda width: {"kind": "features", "input_dim": width, "hidden_dims": [32]}  # noqa: E731
    config = DBRCConfig(hash_bits=8, shared_dim=32, decoder_hidden_dim=32, image_encoder=spec(12),
                        text_encoder=spec(6), saturation_weight=saturation_weight, centre_pre_activations=centre)
    model = CrossModalHashModel.from_config(config).train()
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(64, 12, generator=generator)  # non-negative, like Wiki's histograms
    texts = images[:, :6] + 0.1 * torch.rand(64, 6, generator=generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
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
    return measured


def test_the_penalty_saturates_the_codes_without_making_bits_constant():
    """The default (centred) shared layer: weight 1 drives |u| to ±1 and every bit still splits the items.
    Without the centring the same penalty is met by collapse: every bit constant, one code for all 64 items."""
    for mean_abs, constant, distinct in _train_on_features(centre=True, saturation_weight=1.0):
        assert mean_abs > 0.85 and constant == 0 and distinct >= 16, (mean_abs, constant, distinct)
    for mean_abs, constant, distinct in _train_on_features(centre=True, saturation_weight=0.0):
        assert mean_abs < 0.5 and constant == 0, (mean_abs, constant)  # the saturation comes from the penalty
    for mean_abs, constant, distinct in _train_on_features(centre=False, saturation_weight=1.0):
        assert mean_abs > 0.85 and constant == 8 and distinct == 1, (mean_abs, constant, distinct)


def test_the_shared_layer_centres_each_modality_on_its_own_mean():
    """Training: a batch's pre-activations minus their batch mean, and that mean folded into the modality's
    running mean; a query alone (eval): minus the running mean. The other modality's running mean is untouched."""
    model = tiny_model("dbrc").train()
    layer = model.binary_layer
    features = torch.randn(5, model.config.shared_dim)
    with torch.no_grad():
        layer.text_mean.fill_(0.3)
        z = layer.projection(features)
        u = layer(features, "image")
    activation = layer.activation
    assert torch.allclose(u, activation(z - z.mean(0)), atol=1e-6)
    assert torch.allclose(layer.image_mean, 0.1 * z.mean(0), atol=1e-6)
    assert torch.allclose(layer.text_mean, torch.full_like(layer.text_mean, 0.3))
    layer.eval()
    with torch.no_grad():
        alone = layer(features[:1], "text")
    assert torch.allclose(alone, activation(z[:1] - 0.3), atol=1e-6)
    with pytest.raises(ValueError, match="modality must be one of"):
        layer(features, "audio")


def test_the_running_means_are_saved_with_the_model(tmp_path):
    model = tiny_model("dbrc")
    with torch.no_grad():
        model.binary_layer.image_mean.copy_(torch.linspace(-1, 1, HASH_BITS))
    model.save_pretrained(tmp_path)
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.binary_layer.image_mean, model.binary_layer.image_mean)
    assert torch.equal(loaded.binary_layer.text_mean, torch.zeros(HASH_BITS))


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
        ({"centre_pre_activations": "yes"}, TypeError, "centre_pre_activations must be true or false, got 'yes'."),
        ({"scaling": "cubic"}, ValueError, "scaling must be one of ('linear', 'nonlinear'), got 'cubic'."),
        ({"initial_scale": 0.0}, ValueError, "initial_scale must be positive, got 0.0."),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_them(settings, error, message):
    with pytest.raises(error) as raised:
        DBRCConfig(**settings)
    assert str(raised.value) == message
