"""The parity engine catches real bugs: each test plants one bug in a small subclass and asserts NOT OK at the right
tensor, with the first diverging layer named. The bugs live only here; production code has no switches for them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.core.errors import FrameworkUnavailableError
from harness.core.frameworks import model_class
from harness.parity.results import EXPLAINED, NOT_OK, OK, ParityReport, ParityRow
from harness.parity.suite import run_case
from harness.parity.variants import PARITY_VARIANTS

Reference = model_class("numpy")


def _torch_class():
    try:
        return model_class("torch")
    except FrameworkUnavailableError as error:
        pytest.skip(f"PyTorch is not importable here: {error}")


def _run(variant: str, classes: dict, frameworks: tuple[str, ...], dtype: str = "float64") -> ParityReport:
    return ParityReport(rows=run_case(PARITY_VARIANTS[variant], dtype, classes, frameworks))


def _rows(report: ParityReport, pair: str, check: str) -> dict[str, ParityRow]:
    return {r.tensor: r for r in report.rows if r.pair == pair and r.check == check}


def _first_divergence(report: ParityReport, pair: str) -> dict[str, str]:
    found = [d for d in report.first_divergences() if d["pair"] == pair]
    assert len(found) == 1, found
    return found[0]


def _statuses(rows: dict[str, ParityRow]) -> dict[str, str]:
    return {name: row.status for name, row in rows.items()}


def test_transposed_weight_diverges_at_that_layer():
    base = _torch_class()

    class TransposedWeight(base):
        """Loads dense1.W (256, 256) transposed, as an adapter that forgot torch's (out, in) layout would."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            super().__init__(model_spec, train_spec, {**params, "dense1.W": params["dense1.W"].T.copy()}, **kwargs)

    report = _run("relu-he", {"numpy": Reference, "torch": TransposedWeight}, ("numpy", "torch"))
    forward = _statuses(_rows(report, "numpy-vs-torch", "forward-train"))
    assert forward == {"dense0": OK, "act0": OK, "dense1": NOT_OK, "act1": NOT_OK, "logits": NOT_OK}
    assert _rows(report, "numpy-vs-torch", "gradient")["dense1.W"].status == NOT_OK
    assert "first diverging layer" in _rows(report, "numpy-vs-torch", "forward-train")["dense1"].note
    assert _first_divergence(report, "numpy-vs-torch") == {
        "pair": "numpy-vs-torch",
        "variant": "relu-he",
        "dtype": "float64",
        "check": "forward-train",
        "tensor": "dense1",
    }


def test_wrong_bn_momentum_meaning_diverges_in_the_running_statistics():
    base = _torch_class()

    class KerasMomentumPassedToTorch(base):
        """BatchNorm1d(momentum=0.9): the spec's Keras-meaning momentum handed to torch without 1 − m."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            bn = model_spec.batch_norm
            wrong = replace(model_spec, batch_norm=replace(bn, momentum=1 - bn.momentum))
            super().__init__(wrong, train_spec, params, **kwargs)

    report = _run("relu-he-batchnorm", {"numpy": Reference, "torch": KerasMomentumPassedToTorch}, ("numpy", "torch"))
    pair = "numpy-vs-torch"
    # Training-mode arithmetic does not read the running statistics: all of it still agrees.
    for check in ("forward-train", "forward-inference", "loss", "gradient", "step-losses"):
        assert set(_statuses(_rows(report, pair, check)).values()) == {OK}, check
    params = _rows(report, pair, "params-after-steps")
    for i in (0, 1):
        assert params[f"bn{i}.running_mean"].status == NOT_OK
        assert params[f"bn{i}.running_var"].status == NOT_OK
        assert params[f"bn{i}.gamma"].status == OK
    inference = _statuses(_rows(report, pair, "forward-inference-after-steps"))
    # dense0 carries its pre-BN bias, whose float64 rounding walk may be EXPLAINED; it is never NOT OK.
    assert inference["dense0"] != NOT_OK
    assert inference["bn0"] == NOT_OK
    divergence = _first_divergence(report, pair)
    assert (divergence["check"], divergence["tensor"]) == ("forward-inference-after-steps", "bn0")


@pytest.mark.parametrize("variant", ["relu-he-rmsprop", "relu-he-adam"])
def test_eps_in_the_wrong_place_diverges_after_the_steps(variant):
    base = _torch_class()

    class KerasFormReference(Reference):
        """The reference running Keras' epsilon placement while it is compared with torch."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            keras_form = replace(train_spec, optimizer=replace(train_spec.optimizer, form="keras"))
            super().__init__(model_spec, keras_form, params, **kwargs)

    report = _run(variant, {"numpy": KerasFormReference, "torch": base}, ("numpy", "torch"))
    pair = "numpy-vs-torch"
    for check in ("forward-train", "forward-inference", "loss", "gradient"):
        assert set(_statuses(_rows(report, pair, check)).values()) == {OK}, check
    params = _statuses(_rows(report, pair, "params-after-steps"))
    assert {params[k] for k in ("dense0.W", "dense1.W", "dense2.W")} == {NOT_OK}
    assert _rows(report, pair, "step-losses")["train_step losses"].status == NOT_OK
    divergence = _first_divergence(report, pair)
    assert (divergence["check"], divergence["tensor"]) == ("forward-inference-after-steps", "dense0")


def _ones_for_layer1(masks):
    return None if masks is None else {**masks, "dropout1": np.ones_like(masks["dropout1"])}


def test_dropout_mask_not_applied_diverges_at_that_dropout():
    base = _torch_class()

    class MaskNotApplied(base):
        """Keeps every unit of the second dropout layer, as if its injected mask were dropped on the way."""

        def activations(self, x, training, dropout_masks=None):
            return super().activations(x, training, _ones_for_layer1(dropout_masks))

        def loss_and_grads(self, x, y, dropout_masks=None):
            return super().loss_and_grads(x, y, _ones_for_layer1(dropout_masks))

        def train_step(self, x, y, dropout_masks=None):
            return super().train_step(x, y, _ones_for_layer1(dropout_masks))

        def train_epoch(self, data, order, dropout_masks=None):
            return super().train_epoch(data, order, _ones_for_layer1(dropout_masks))

    report = _run("relu-he-dropout", {"numpy": Reference, "torch": MaskNotApplied}, ("numpy", "torch"))
    pair = "numpy-vs-torch"
    forward = _statuses(_rows(report, pair, "forward-train"))
    assert [forward[k] for k in ("dense0", "act0", "dropout0", "dense1", "act1")] == [OK] * 5
    assert forward["dropout1"] == NOT_OK
    assert set(_statuses(_rows(report, pair, "forward-inference")).values()) == {OK}
    assert _rows(report, pair, "gradient")["dense1.W"].status == NOT_OK
    divergence = _first_divergence(report, pair)
    assert (divergence["check"], divergence["tensor"]) == ("forward-train", "dropout1")


def test_a_tiny_learning_rate_error_is_not_excused_as_rounding():
    class LearningRateOffByOnePpm(Reference):
        """A learning rate off by one part in a million, far above float64 rounding."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            optimizer = replace(train_spec.optimizer, lr=train_spec.optimizer.lr * (1 + 1e-6))
            super().__init__(model_spec, replace(train_spec, optimizer=optimizer), params, **kwargs)

    # The reference stands in for torch here (it runs torch's forms when given them), so this needs no framework.
    report = _run("relu-he-sgd", {"numpy": Reference, "torch": LearningRateOffByOnePpm}, ("numpy", "torch"))
    params = _rows(report, "numpy-vs-torch", "params-after-steps")
    assert params["dense0.W"].status == NOT_OK
    assert "rounding sensitivity" in params["dense0.W"].note
    assert not [r for r in report.rows if r.status == EXPLAINED]


@pytest.mark.parametrize("eps_factor", [1.0, 10.0], ids=["keras-form", "keras-form-with-eps-x10"])
def test_torch_vs_keras_is_explained_only_when_the_reference_forms_reproduce_it(eps_factor):
    class KerasWithItsEps(Reference):
        """Stands in for Keras: the reference in Keras' forms, with its eps scaled by eps_factor."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            optimizer = replace(train_spec.optimizer, eps=train_spec.optimizer.eps * eps_factor)
            super().__init__(model_spec, replace(train_spec, optimizer=optimizer), params, **kwargs)

    classes = {"numpy": Reference, "torch": Reference, "keras": KerasWithItsEps}
    report = _run("relu-he-adam", classes, ("torch", "keras"))
    params = _rows(report, "torch-vs-keras", "params-after-steps")
    if eps_factor == 1.0:
        assert {r.status for r in params.values()} == {EXPLAINED}
        assert all("adam-epsilon-hat" in r.note for r in params.values())
        assert not report.failed
    else:
        assert params["dense0.W"].status == NOT_OK
        assert "residual" in params["dense0.W"].note
