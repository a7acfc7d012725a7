"""Rules of harness.core.interface.FrameworkModel that every framework's MLP must keep, checked on all three."""

from __future__ import annotations

import numpy as np
import pytest
from framework_cases import BATCH, BN_DROPOUT, CLASSES, INPUTS, batch

from harness.core.conventions import native_specs
from harness.core.errors import FwcompareError
from harness.core.frameworks import model_class
from harness.core.specs import BatchNormSpec, ModelSpec, TrainSpec
from reference.initializers import initial_params

RUNNING_STATS = ("bn0.running_mean", "bn0.running_var", "bn1.running_mean", "bn1.running_var")


@pytest.mark.parametrize("framework", ["numpy", "torch", "keras"])
def test_only_train_step_changes_parameters_and_bn_running_stats(framework: str) -> None:
    model_spec, train_spec = native_specs(BN_DROPOUT, TrainSpec(dtype="float64"), framework)
    model = model_class(framework)(model_spec, train_spec, initial_params(model_spec, 0, "float64"))
    x, y, masks = batch(BN_DROPOUT, BATCH, seed=7)
    before = model.get_params()
    model.activations(x, True, masks)
    model.activations(x, False)
    model.loss_and_grads(x, y, masks)
    model.forward(x, training=True, dropout_masks=masks)
    model.evaluate(model.upload(x, y))
    for key, value in model.get_params().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    model.train_step(x, y, masks)
    stepped = model.get_params()
    for key in RUNNING_STATS:
        assert not np.array_equal(stepped[key], before[key]), key


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("foreign_rule", ["optimizer-form", "running-var"])
def test_a_spec_in_the_other_frameworks_form_is_refused(framework: str, foreign_rule: str) -> None:
    other = "keras" if framework == "torch" else "torch"
    spec = ModelSpec(INPUTS, (5,), CLASSES, batch_norm=BatchNormSpec())
    native_model, native_train = native_specs(spec, TrainSpec(), framework)
    foreign_model, foreign_train = native_specs(spec, TrainSpec(), other)
    if foreign_rule == "optimizer-form":
        model_spec, train_spec = native_model, foreign_train
        named = f"optimizer form '{foreign_train.optimizer.form}'"
    else:
        model_spec, train_spec = foreign_model, native_train
        named = f"BN running_var '{foreign_model.batch_norm.running_var}'"
    with pytest.raises(FwcompareError, match=r"harness\.core\.conventions\.native_specs") as raised:
        model_class(framework)(model_spec, train_spec, initial_params(model_spec, 0, "float32"))
    assert named in str(raised.value)
