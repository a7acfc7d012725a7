"""Specs reject impossible values with a message naming the field, round-trip through dicts, and key stably."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from harness.catalog.variants import all_variants, get_variant
from harness.core.batching import batch_slices, dropout_masks, epoch_order
from harness.core.errors import ParamMismatchError
from harness.core.params import check_params, param_shapes, trainable_keys
from harness.core.specs import (
    OPTIMIZER_FORMS,
    BatchNormSpec,
    InitSpec,
    ModelSpec,
    OptimizerSpec,
    ScheduleSpec,
    SpecError,
    TrainSpec,
    spec_from_dict,
    spec_key,
    spec_to_dict,
)

SMALL = ModelSpec(input_size=4, hidden_sizes=(3, 2), output_size=2, batch_norm=BatchNormSpec(), dropout=(0.5, 0.0))


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: ModelSpec(4, (3,), 2, activation="softsign"), "ModelSpec.activation='softsign'"),
        (lambda: ModelSpec(4, (3,), 2, dropout=(0.5, 0.5)), "2 rates for 1 hidden layers"),
        (lambda: ModelSpec(4, (3,), 2, dropout=(1.0,)), "drop probability in [0, 1)"),
        (lambda: ModelSpec(4, (3,), 2, loss="binary_ce"), "needs output='sigmoid'"),
        (lambda: InitSpec("normal"), "needs std > 0"),
        (lambda: InitSpec("glorot_uniform", truncated=True), "normal schemes only"),
        (lambda: BatchNormSpec(momentum=1.0), "must be in [0, 1)"),
        (lambda: OptimizerSpec("adamw"), "choose one of: sgd, momentum"),
        (lambda: OptimizerSpec("sgd", lr=0.0), "lr=0.0 must be > 0"),
        (lambda: ScheduleSpec("linear"), "needs final_lr > 0"),
        (lambda: TrainSpec(dtype="float16"), "TrainSpec.dtype='float16'"),
        (lambda: TrainSpec(batch_size=0), "batch_size=0 must be >= 1"),
    ],
)
def test_impossible_values_are_rejected_with_the_field_named(build, fragment):
    with pytest.raises(SpecError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build()


def test_specs_round_trip_through_dicts_and_keep_their_key():
    train = TrainSpec(optimizer=OptimizerSpec("momentum", lr=0.1), schedule=ScheduleSpec("linear", final_lr=0.01))
    model_back = spec_from_dict(ModelSpec, spec_to_dict(SMALL))
    train_back = spec_from_dict(TrainSpec, spec_to_dict(train))
    assert model_back == SMALL
    assert train_back == train
    assert spec_key(model_back, train_back) == spec_key(SMALL, train)
    assert spec_key(SMALL, train) != spec_key(SMALL, TrainSpec())


def test_spec_key_is_independent_of_the_interpreter_hash_seed():
    code = "from harness.core.specs import ModelSpec, spec_key; print(spec_key(ModelSpec(4, (3,), 2)))"
    keys = {
        subprocess.run(
            [sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True, check=True
        ).stdout
        for seed in ("1", "2")
    }
    assert len(keys) == 1


def test_unknown_field_in_a_dict_lists_the_valid_ones():
    with pytest.raises(SpecError, match="no field\\(s\\) \\['widths'\\]; valid fields: input_size"):
        spec_from_dict(ModelSpec, {"input_size": 4, "widths": [3], "output_size": 2})


def test_canonical_shapes_and_trainable_keys():
    shapes = param_shapes(SMALL)
    assert shapes["dense0.W"] == (4, 3)
    assert shapes["dense2.W"] == (2, 2)
    assert shapes["bn1.running_var"] == (2,)
    assert "bn2.gamma" not in shapes  # no batch norm on the output layer
    assert "dense0.b" not in shapes  # BN follows: the bias would have an exact zero gradient
    assert shapes["dense2.b"] == (2,)
    assert "dense0.b" in param_shapes(ModelSpec(4, (3,), 2))
    assert "bn0.running_mean" not in trainable_keys(SMALL)
    assert "bn0.gamma" in trainable_keys(SMALL)


def test_check_params_names_missing_keys_and_wrong_shapes():
    params = {k: np.zeros(s) for k, s in param_shapes(SMALL).items()}
    check_params(SMALL, params)
    missing = dict(params)
    del missing["bn0.beta"]
    with pytest.raises(ParamMismatchError, match=r"missing \['bn0.beta'\]"):
        check_params(SMALL, missing)
    transposed = dict(params, **{"dense0.W": np.zeros((3, 4))})
    with pytest.raises(ParamMismatchError, match=r"dense0.W: got \(3, 4\), want \(4, 3\)"):
        check_params(SMALL, transposed)


def test_epoch_orders_are_permutations_that_differ_between_epochs_and_repeat_per_seed():
    first, second = epoch_order(50, seed=3, epoch=0), epoch_order(50, seed=3, epoch=1)
    assert sorted(first) == list(range(50))
    assert not np.array_equal(first, second)
    assert np.array_equal(first, epoch_order(50, seed=3, epoch=0))


def test_batch_slices_cover_every_position_once_with_a_partial_last_batch():
    slices = batch_slices(10, 4)
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]


def test_dropout_masks_match_rates_and_skip_layers_without_dropout():
    masks = dropout_masks(SMALL, 20_000, seed=0, epoch=0)
    assert set(masks) == {"dropout0"}
    assert masks["dropout0"].shape == (20_000, 3)
    assert abs(masks["dropout0"].mean() - 0.5) < 0.02
    assert dropout_masks(ModelSpec(4, (3,), 2), 10, seed=0, epoch=0) is None


def test_dropout_masks_drawn_in_blocks_are_those_of_one_draw_per_layer():
    # Masks are drawn a block of rows at a time (less memory); every published run used one draw per layer.
    spec = ModelSpec(8, (5, 7, 3), 2, dropout=(0.5, 0.0, 0.2))
    rows = 10_000  # more than one block
    masks = dropout_masks(spec, rows, seed=4, epoch=2)
    rng = np.random.default_rng([4, 2, 2])
    for key, width, rate in (("dropout0", 5, 0.5), ("dropout2", 3, 0.2)):
        expected = (rng.random((rows, width)) >= rate).astype(np.float32)
        assert masks[key].dtype == np.float32
        np.testing.assert_array_equal(masks[key], expected)


def test_every_registered_variant_resizes_and_unknown_names_list_the_valid_ones():
    for variant in all_variants().values():
        resized = variant.for_data(64, 10)
        assert resized.model.layer_sizes[0] == 64
        assert resized.model.hidden_sizes == variant.model.hidden_sizes
    with pytest.raises(Exception, match=r"unknown variant 'relu-hee'.*relu-he"):
        get_variant("relu-hee")


# Cell digests as run directories of schema 1 and 2 hold them (computed before the schema-1 form names moved into
# the plug-ins): {optimiser: (digest of its first form, digest of its last form)} of TrainSpec(optimizer=...).
PINNED_FORM_DIGESTS = {
    "sgd": ("91a3f50ed335", "91a3f50ed335"),
    "momentum": ("bf7649aee52b", "0d5edeae49fc"),
    "nesterov": ("404f88846885", "d9923a6b4c97"),
    "adagrad": ("7de6772aeb3e", "03c45dfc0372"),
    "rmsprop": ("fc53df45b1ef", "3489c67a44d0"),
    "adam": ("b94edcb74b43", "3eaf02b58cf1"),
}


@pytest.mark.parametrize("optimizer", list(PINNED_FORM_DIGESTS))
def test_cell_digests_and_schema1_form_names_are_those_earlier_runs_hold(optimizer):
    first, last = OPTIMIZER_FORMS[optimizer][0], OPTIMIZER_FORMS[optimizer][-1]
    for form, schema1_name, digest in zip(
        (first, last), ("torch", "keras"), PINNED_FORM_DIGESTS[optimizer], strict=True
    ):
        spec = OptimizerSpec(optimizer, form=schema1_name)
        assert spec.form == form
        assert spec_key(TrainSpec(optimizer=spec)) == spec_key(TrainSpec(optimizer=OptimizerSpec(optimizer, form=form)))
        assert spec_key(TrainSpec(optimizer=spec)) == digest
    assert spec_key(ModelSpec(4, (3,), 2), TrainSpec()) == "8164a9055bea"


def test_an_unknown_form_name_lists_the_rule_forms():
    with pytest.raises(SpecError, match=r"form='jax' is not valid; choose one of: gradient-buffer, velocity"):
        OptimizerSpec("momentum", form="jax")
