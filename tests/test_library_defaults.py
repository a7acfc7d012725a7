"""The library-defaults table (harness.core.conventions.library_defaults, from each plug-in) against the installed
libraries: each default read from the library's signatures, measured on a freshly made layer, and read by the port
readers (`fwcompare port`), so the table cannot go stale silently when a library changes a default. The update-rule
forms and running variances in the table are the plug-ins' native forms, which `fwcompare parity` checks.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from harness.core.conventions import defaults_frameworks, defaults_markdown, library_defaults
from harness.core.initializers import initial_params
from harness.core.specs import ModelSpec

FAN_IN, FAN_OUT = 400, 300


def _default(function, name):
    return inspect.signature(function).parameters[name].default


def _reference_layer(init):
    """dense0.W (FAN_IN, FAN_OUT) and dense0.b drawn by the reference with `init`."""
    spec = ModelSpec(input_size=FAN_IN, hidden_sizes=(FAN_OUT,), output_size=2, init=init)
    params = initial_params(spec, 0, "float64")
    return params["dense0.W"], params["dense0.b"]


def test_every_framework_with_a_table_lists_every_setting_with_a_source():
    assert set(defaults_frameworks()) >= {"torch", "keras"}
    names = [set(library_defaults(framework)) for framework in defaults_frameworks()]
    assert all(table == names[0] for table in names)
    for framework in defaults_frameworks():
        for name, default in library_defaults(framework).items():
            assert default.source.startswith("https://"), (framework, name)
    assert "| adam.eps |" in defaults_markdown()


def test_the_torch_table_is_what_the_installed_torch_does():
    torch = pytest.importorskip("torch", reason="torch is not installed: its defaults cannot be read")
    from torch_impl.port import default_optimizer, default_settings

    table = {name: default.value for name, default in library_defaults("torch").items()}
    assert _default(torch.optim.Adam, "eps") == table["adam.eps"]
    assert _default(torch.optim.Adam, "betas") == (table["adam.beta1"], table["adam.beta2"])
    assert _default(torch.optim.RMSprop, "alpha") == table["rmsprop.rho"]
    assert _default(torch.optim.RMSprop, "eps") == table["rmsprop.eps"]
    assert _default(torch.optim.Adagrad, "eps") == table["adagrad.eps"]
    assert _default(torch.optim.Adagrad, "initial_accumulator_value") == table["adagrad.initial_accumulator"]
    batch_norm = torch.nn.BatchNorm1d(4)
    assert batch_norm.eps == table["bn.eps"]
    assert 1.0 - batch_norm.momentum == pytest.approx(table["bn.momentum"])

    # nn.Linear's initialiser, measured: kernel and bias uniform within ±1/√fan_in, as the table's InitSpec draws.
    torch.manual_seed(0)
    linear = torch.nn.Linear(FAN_IN, FAN_OUT)
    weight, bias = linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()
    ref_weight, ref_bias = _reference_layer(table["init"])
    bound = 1 / math.sqrt(FAN_IN)
    for measured in (weight, ref_weight):
        assert np.abs(measured).max() <= bound and np.abs(measured).max() > 0.999 * bound
        assert measured.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    for measured in (bias, ref_bias):
        assert np.abs(measured).max() <= bound and np.abs(measured).max() > 0.95 * bound

    settings = default_settings()
    assert (settings["bn.eps"], settings["init"]) == (table["bn.eps"], table["init"])
    assert settings["bn.momentum"] == pytest.approx(table["bn.momentum"])
    assert settings["bn.running_var"] == table["bn.running_var"]
    _check_optimizers(default_optimizer, table)


def test_the_keras_table_is_what_the_installed_keras_does():
    keras = pytest.importorskip("keras", reason="Keras is not installed: its defaults cannot be read")
    from keras_impl.port import default_optimizer, default_settings

    table = {name: default.value for name, default in library_defaults("keras").items()}
    assert _default(keras.optimizers.Adam, "epsilon") == table["adam.eps"]
    assert _default(keras.optimizers.Adam, "beta_1") == table["adam.beta1"]
    assert _default(keras.optimizers.Adam, "beta_2") == table["adam.beta2"]
    assert _default(keras.optimizers.RMSprop, "rho") == table["rmsprop.rho"]
    assert _default(keras.optimizers.RMSprop, "epsilon") == table["rmsprop.eps"]
    assert _default(keras.optimizers.Adagrad, "epsilon") == table["adagrad.eps"]
    assert _default(keras.optimizers.Adagrad, "initial_accumulator_value") == table["adagrad.initial_accumulator"]
    assert _default(keras.layers.BatchNormalization, "momentum") == table["bn.momentum"]
    assert _default(keras.layers.BatchNormalization, "epsilon") == table["bn.eps"]

    # Dense's initialisers, measured: Glorot-uniform kernel within ±√(6/(fan_in + fan_out)), zero bias.
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(FAN_OUT)
    dense.build((None, FAN_IN))
    kernel, bias = np.asarray(dense.kernel.numpy(), np.float64), np.asarray(dense.bias.numpy(), np.float64)
    ref_kernel, ref_bias = _reference_layer(table["init"])
    bound = math.sqrt(6 / (FAN_IN + FAN_OUT))
    for measured in (kernel, ref_kernel):
        assert np.abs(measured).max() <= bound * (1 + 1e-6) and np.abs(measured).max() > 0.999 * bound
    assert not bias.any() and not ref_bias.any()

    settings = default_settings()
    assert (settings["bn.eps"], settings["init"]) == (table["bn.eps"], table["init"])
    assert settings["bn.momentum"] == pytest.approx(table["bn.momentum"])
    assert settings["bn.running_var"] == table["bn.running_var"]
    _check_optimizers(default_optimizer, table)


def _check_optimizers(default_optimizer, table):
    """The port reader's default optimisers (read from the library's own objects) carry the table's values."""
    for name in ("adam", "rmsprop", "adagrad", "momentum", "nesterov"):
        read = default_optimizer(name)
        for setting, value in table.items():
            optimizer, _, field = setting.partition(".")
            if optimizer == name:
                expected = pytest.approx(value) if isinstance(value, float) else value
                assert getattr(read, field) == expected, setting
