"""Diagnosis rules (harness/parity/diagnosis.py): each common bug, planted in the worked example's network
(examples/byo) by a subclass here, is named by its rule in the parity row of the tensor it breaks; the example
itself passes, and a difference no rule knows is reported as unexplained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from byo_registry import registered

from harness.byo.adapter import adapter_model
from harness.byo.load import load_impl
from harness.catalog.variants import Variant
from harness.core.frameworks import model_class
from harness.core.specs import BatchNormSpec, InitSpec, ModelSpec, OptimizerSpec, TrainSpec
from harness.parity.diagnosis import UNEXPLAINED
from harness.parity.inputs import PARITY_BATCH_SIZE
from harness.parity.results import NOT_OK
from harness.parity.suite import run_case

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "byo" / "adapter.py"
STEPS = 2
# Every kernel square (8 → 8 → 8 → 8), so a kernel handed over untransposed keeps its shape and only its values
# show the mistake.
MODEL = ModelSpec(8, (8, 8), 8, init=InitSpec("he_normal"))
TRAIN = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1))


@pytest.fixture(scope="module")
def example():
    """The example adapter class and its network module (imported by the adapter from its own folder)."""
    adapter_cls = load_impl(f"{EXAMPLE}:ScratchAdapter").adapter_cls
    import scratch_mlp

    return adapter_cls, scratch_mlp


def planted(example, network_overrides=None, adapter_overrides=None):
    """The example's adapter whose network (and adapter) methods are replaced by `*_overrides`, as a model class."""
    adapter_cls, scratch_mlp = example
    network_cls = type("PlantedMLP", (scratch_mlp.ScratchMLP,), network_overrides or {})

    def __init__(self, model_spec, train_spec, params):
        adapter_cls.__init__(self, model_spec, train_spec, params)
        self.net.__class__ = network_cls

    body = {"__init__": __init__, "name": "planted", **(adapter_overrides or {})}
    return adapter_model(type("PlantedAdapter", (adapter_cls,), body), "test")


def notes(model_cls, model=MODEL, train=TRAIN):
    """The notes of every NOT OK row of numpy-vs-<model_cls> on one float64 case."""
    variant = Variant("tiny", "a tiny network for planted bugs", model, train)
    with registered(model_cls):
        rows = run_case(
            variant, "float64", {"numpy": model_class("numpy"), model_cls.framework: model_cls}, steps=STEPS
        )
    return {(r.check, r.tensor): r.note for r in rows if r.status == NOT_OK and r.pair.startswith("numpy-vs-")}


def diagnosed(found, check, tensor, words):
    assert (check, tensor) in found, f"{check} {tensor} is not NOT OK; failing: {sorted(found)}"
    assert words in found[check, tensor], found[check, tensor]


def test_the_example_passes_on_every_planted_bugs_spec(example):
    adapter_cls, _ = example
    model_cls = adapter_model(adapter_cls, "example")
    bn_model = replace(MODEL, batch_norm=BatchNormSpec())
    for model in (MODEL, replace(MODEL, l2=0.01), replace(MODEL, dropout=(0.5, 0.5)), bn_model):
        assert notes(model_cls, model) == {}


def test_loss_summed_over_the_batch_is_a_ratio_of_the_batch_size(example):
    def loss(self, logits, labels):
        value, dlogits = example[1].ScratchMLP.loss(self, logits, labels)
        return value * len(labels), dlogits * len(labels)

    found = notes(planted(example, {"loss": loss}))
    diagnosed(found, "loss", "loss", f"batch size {PARITY_BATCH_SIZE}: summed over the batch instead of averaged")
    diagnosed(found, "gradient", "dense0.W", "summed over the batch instead of averaged")
    # the parameters after steps differ as a consequence, which the row says instead of a rule of its own
    diagnosed(found, "params-after-steps", "dense0.W", "by itself; it follows the earlier difference in loss loss")


def test_gradient_counted_twice_is_a_ratio_of_two(example):
    def backward(self, cache, dlogits):
        return example[1].ScratchMLP.backward(self, cache, 2 * dlogits)

    found = notes(planted(example, {"backward": backward}))
    diagnosed(found, "gradient", "dense1.W", "constant ratio 2 to the reference = 2: a missing ½")


def test_gradient_of_the_wrong_sign_is_a_sign_flip(example):
    def backward(self, cache, dlogits):
        return example[1].ScratchMLP.backward(self, cache, -dlogits)

    found = notes(planted(example, {"backward": backward}))
    diagnosed(found, "gradient", "dense2.b", "sign flipped")


def test_kernel_gradient_not_transposed_is_named_transposed(example):
    adapter_cls, _ = example

    def _canonical(self, grads):
        out = adapter_cls._canonical(self, grads)
        return {k: v.T if k.endswith(".W") else v for k, v in out.items()}

    found = notes(planted(example, adapter_overrides={"_canonical": _canonical}))
    diagnosed(found, "gradient", "dense1.W", "transposed")


def test_weights_exported_one_step_stale_match_the_reference_one_step_earlier(example):
    adapter_cls, _ = example

    def train_step(self, x, y, dropout_masks, lr):
        self.exported = adapter_cls.get_params(self)  # the bug: the copy is taken before the update
        return adapter_cls.train_step(self, x, y, dropout_masks, lr)

    def get_params(self):
        return getattr(self, "exported", None) or adapter_cls.get_params(self)

    found = notes(planted(example, adapter_overrides={"train_step": train_step, "get_params": get_params}))
    diagnosed(found, "params-after-steps", "dense0.W", f"one step late: after {STEPS} steps it equals the reference")


def test_bias_left_out_of_a_layer_is_a_missing_bias(example):
    def backward(self, cache, dlogits):
        grads = example[1].ScratchMLP.backward(self, cache, dlogits)
        grads["b"][0] = np.zeros_like(grads["b"][0])  # the bias of layer 0 is never part of the computation
        return grads

    found = notes(planted(example, {"backward": backward}))
    diagnosed(found, "gradient", "dense0.b", "bias missing: the gradient of dense0.b is zero everywhere")
    diagnosed(found, "params-after-steps", "dense0.b", "bias missing: dense0.b never moved")


def test_l2_term_left_out_matches_the_reference_without_it(example):
    def loss(self, logits, labels):
        self.l2 = 0.0  # the bug: the network ignores the L2 coefficient it was given
        return example[1].ScratchMLP.loss(self, logits, labels)

    found = notes(planted(example, {"loss": loss}), model=replace(MODEL, l2=0.05))
    diagnosed(found, "loss", "loss", "L2 term missing")


def test_dropout_not_divided_by_the_keep_probability_is_dropout_scaling(example):
    def forward(self, x, train=False, keep=None):
        saved = self.dropout
        self.dropout = [0.0] * len(saved)  # kept units multiply by the mask alone, without 1/(1 − p)
        try:
            logits, cache = example[1].ScratchMLP.forward(self, x, train, None)
            if train:
                h = x.astype(self.dtype)
                for i in range(self.hidden):
                    cache[i]["input"] = h
                    z = h @ self.W[i].T + self.b[i]
                    a = self.act(z)
                    cache[i].update(z=z, a=a, scale=keep[i].astype(self.dtype))
                    h = a * cache[i]["scale"]
                cache[-1]["input"] = h
                logits = h @ self.W[-1].T + self.b[-1]
            return logits, cache
        finally:
            self.dropout = saved

    found = notes(planted(example, {"forward": forward}), model=replace(MODEL, dropout=(0.5, 0.5)))
    diagnosed(found, "loss", "loss", "dropout scaling: kept units are not divided by 1 − p")


def test_biased_running_variance_is_the_other_bn_convention(example):
    def update_running_stats(self, cache, n):
        for i in range(len(self.gamma)):
            w = self.bn_new_weight
            self.run_mean[i] = (1 - w) * self.run_mean[i] + w * cache[i]["mu"]
            self.run_var[i] = (1 - w) * self.run_var[i] + w * cache[i]["var"]  # biased: 1/N, not N/(N−1)

    found = notes(
        planted(example, {"update_running_stats": update_running_stats}),
        model=replace(MODEL, batch_norm=BatchNormSpec()),
    )
    diagnosed(found, "params-after-steps", "bn0.running_var", "BN variance convention")


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_softmax_without_max_subtraction_overflows_on_large_logits(example):
    def loss(self, logits, labels):
        n = len(labels)
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # the bug: no max subtracted
        dlogits = probs.copy()
        dlogits[np.arange(n), labels] -= 1
        return float(-np.log(probs[np.arange(n), labels]).mean()), dlogits / n

    found = notes(planted(example, {"loss": loss}))
    assert [check for check, _ in found] == ["loss-large-logits"]  # agrees everywhere else
    diagnosed(found, "loss-large-logits", "loss", "softmax without max-subtraction")


def test_a_difference_no_rule_knows_is_reported_unexplained(example):
    def backward(self, cache, dlogits):
        grads = example[1].ScratchMLP.backward(self, cache, dlogits)
        grads["W"][1] = grads["W"][1] + 1e-3 * np.random.default_rng(0).standard_normal(grads["W"][1].shape)
        return grads

    found = notes(planted(example, {"backward": backward}))
    diagnosed(found, "gradient", "dense1.W", f"diagnosis: {UNEXPLAINED}")
