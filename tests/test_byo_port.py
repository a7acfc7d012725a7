"""Checking a real port (harness/parity/ports.py, torch_impl/port.py, keras_impl/port.py): a user's torch and Keras
Sequential built with each library's defaults are read faithfully, every default that differs is named with its
measured effect, and a layer without a counterpart is refused by name."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main
from harness.core.errors import PortError
from harness.core.frameworks import plugin
from harness.parity.ports import differences, read

torch = pytest.importorskip("torch")
nn = torch.nn
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "byo"


@pytest.fixture(scope="module")
def keras():
    plugin("keras").import_library()  # TensorFlow without its start-up log
    import keras

    return keras


def torch_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def keras_model(keras):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((8,)),
            layers.Dense(16),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.Dropout(0.5),
            layers.Dense(3),
        ]
    )


def test_torch_defaults_are_read_and_the_reading_reproduces_the_model():
    model = torch_model()
    model.train()
    for _ in range(3):  # running statistics away from their initial values, with the Linear bias inside them
        model(torch.randn(32, 8) + 2.0)
    reading = read(model)
    assert reading.port.model_spec.layer_sizes == (8, 16, 3)
    assert reading.port.settings["bn.eps"] == 1e-5
    assert reading.port.settings["bn.momentum"] == pytest.approx(0.9)  # torch's 0.1, in the Keras meaning
    assert reading.port.settings["bn.running_var"] == "unbiased"
    assert reading.port.settings["dropout"] == (0.5,)
    assert "dense0.b" not in reading.port.params  # folded into the running mean
    assert reading.own_vs_reference < 1e-5


def test_keras_defaults_are_read_and_the_reading_reproduces_the_model(keras):
    reading = read(keras_model(keras))
    settings = reading.port.settings
    assert (settings["bn.eps"], settings["bn.momentum"], settings["bn.running_var"]) == (1e-3, 0.99, "biased")
    assert settings["init"].scheme == "glorot_uniform"
    assert reading.own_vs_reference < 1e-5


def test_every_default_that_differs_is_named_with_its_measured_effect(keras):
    effects = {e.setting: e for e in differences(read(torch_model()).port, read(keras_model(keras)).port, steps=4)}
    assert set(effects) == {"init", "bn.eps", "bn.momentum", "bn.running_var", "all of the above but init"}
    eps = effects["bn.eps"].changes
    assert eps["forward (training)"] > 1e-3 and eps["gradients"] > 0
    for setting in ("bn.momentum", "bn.running_var"):
        changes = effects[setting].changes
        # the running statistics play no part until the model has trained, then they change inference
        assert changes["forward (training)"] == changes["gradients"] == 0.0
        assert changes["inference after K steps"] > 1e-6 and changes["parameters after K steps"] > 1e-6
    assert (
        effects["bn.momentum"].changes["inference after K steps"]
        > effects["bn.running_var"].changes["inference after K steps"]
    )


def test_the_initialisers_are_read_and_their_effect_measured_on_weights_drawn_with_each(keras):
    left, right = read(torch_model()).port, read(keras_model(keras)).port
    torch_init, keras_init = left.settings["init"], right.settings["init"]
    assert (torch_init.scheme, torch_init.bias) == ("fan_in_uniform", "like_weights")
    assert (keras_init.scheme, keras_init.bias) == ("glorot_uniform", "zeros")
    # the torch InitSpec describes nn.Linear's own draws: U(±1/√fan_in), weights and biases
    for linear in (module for module in torch_model() if isinstance(module, nn.Linear)):
        weight, bias = (float(t.detach().abs().max()) * np.sqrt(linear.in_features) for t in linear.parameters())
        assert 0.9 < weight <= 1.0 and bias <= 1.0
    init = differences(left, right, steps=4)[0]
    assert init.setting == "init" and init.on_drawn_weights
    assert init.changes["forward (inference)"] > 1e-2 and init.changes["loss after K steps"] > 0
    stds = {line.split()[0]: [float(line.split()[2]), float(line.split()[4])] for line in init.notes}
    assert set(stds) == {"dense0.W", "dense1.W", "dense1.b"}  # dense0.b is folded into batch norm
    # drawn stds near each scheme's: limit/√3, limits √(1/fan_in) and √(6/(fan_in+fan_out)); Keras' biases zero
    assert stds["dense0.W"] == pytest.approx([np.sqrt(1 / 8 / 3), np.sqrt(6 / 24 / 3)], rel=0.1)
    assert stds["dense1.b"][1] == 0.0
    same = differences(left, replace(right, settings={**right.settings, "init": torch_init}), steps=4)
    assert "init" not in {effect.setting for effect in same}


def test_a_keras_initialiser_without_counterpart_is_listed_not_measured(keras):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, kernel_initializer="orthogonal")])
    port = read(model).port
    assert "Orthogonal" in port.settings["init"]
    init = [e for e in differences(read(nn.Sequential(nn.Linear(4, 3))).port, port, 2) if e.setting == "init"]
    assert init[0].changes is None


def test_a_keras_functional_mlp_reads_as_its_sequential_does(keras):
    sequential = keras_model(keras)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16)(inputs)
    hidden = keras.layers.BatchNormalization()(hidden)
    hidden = keras.layers.ReLU()(hidden)
    hidden = keras.layers.Dropout(0.5)(hidden)
    functional = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    functional.set_weights(sequential.get_weights())
    reading, expected = read(functional), read(sequential)
    assert reading.port.settings == expected.port.settings and reading.own_vs_reference < 1e-5
    assert reading.port.params.keys() == expected.port.params.keys()
    for key, value in expected.port.params.items():
        np.testing.assert_array_equal(reading.port.params[key], value)


def test_a_keras_functional_model_that_is_not_a_plain_chain_is_refused_by_layer(keras):
    inputs = keras.Input((4,))
    left = keras.layers.Dense(4, name="left")(inputs)
    right = keras.layers.Dense(4, name="right")(inputs)
    merged = keras.layers.Add(name="merge")([left, right])
    with pytest.raises(PortError, match=r"layer 'merge' \(Add\) takes 2 inputs \(branches merge there\)"):
        read(keras.Model(inputs, keras.layers.Dense(2)(merged)))
    with pytest.raises(PortError, match="has 1 inputs and 2 outputs"):
        read(keras.Model(inputs, [left, right]))
    shared = keras.layers.Dense(4, name="shared")
    with pytest.raises(PortError, match=r"layer 'shared' \(Dense\) is called twice"):
        read(keras.Model(inputs, keras.layers.Dense(2)(shared(shared(inputs)))))
    hidden = keras.layers.LayerNormalization(name="norm")(keras.layers.Dense(4)(inputs))
    with pytest.raises(PortError, match=r"layer 1 \(LayerNormalization 'norm'\) has no counterpart"):
        read(keras.Model(inputs, keras.layers.Dense(2)(hidden)))


def test_a_layer_without_counterpart_is_refused_by_name(keras):
    with pytest.raises(PortError, match=r"layer 1 \(Conv1d\) has no counterpart"):
        read(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1), nn.Linear(4, 2)))
    with pytest.raises(PortError, match=r"layer 3 \(Softmax\) follows the last Dense/Linear layer"):
        read(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2), nn.Softmax(dim=1)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.LayerNormalization()])
    with pytest.raises(PortError, match=r"layer 1 \(LayerNormalization 'layer_normalization\w*'\) has no counterpart"):
        read(model)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, "relu"), keras.layers.Dense(2, "softmax")])
    with pytest.raises(PortError, match="follows the last Dense/Linear layer; end with a linear layer"):
        read(model)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, "elu"), keras.layers.Dense(2)])
    with pytest.raises(PortError, match=r"layer 0 \(Dense 'dense\w*'\) is activation 'elu', which has no counterpart"):
        read(model)


def test_port_cli_on_the_examples(capsys, keras):
    code = main(
        ["port", f"{EXAMPLES / 'torch_model.py'}:build", f"{EXAMPLES / 'keras_model.py'}:build", "--steps", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("vs the reference built from this reading") == 2 and "NOT OK" not in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("bn.")}
    assert lines["bn.eps"][:2] == ["1e-05", "0.001"] and lines["bn.momentum"][:2] == ["0.9", "0.99"]
    assert np.isclose(float(lines["bn.eps"][2]), 0, atol=1e-6) is np.False_  # eps changes the training forward


def test_against_names_only_what_still_differs_from_the_other_librarys_defaults(capsys, tmp_path, keras):
    path = tmp_path / "aligned.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n\ndef build():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6, eps=1e-3, momentum=0.01), nn.Tanh(), "
        "nn.Linear(6, 3))\n"
    )
    assert main(["port", f"{path}:build", "--against", "keras", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    settings = [line.split()[0] for line in out.splitlines() if line.startswith("bn.")]
    assert settings == ["bn.running_var"]  # eps and momentum were set to Keras' values by hand
    assert "keras defaults" in out


def test_port_needs_exactly_one_other_side(capsys):
    assert main(["port", f"{EXAMPLES / 'torch_model.py'}:build"]) == 2
    assert "give two models, or one model and --against" in capsys.readouterr().err


def test_optimiser_defaults_are_read_and_their_differences_measured(keras):
    model = torch_model()
    left = read(model, torch.optim.Adam(model.parameters())).port
    right = read(keras_model(keras), keras.optimizers.Adam()).port
    assert (left.settings["optimizer.eps"], right.settings["optimizer.eps"]) == (1e-8, 1e-7)
    # forms named by rule, as each library's plug-in declares them
    assert (left.settings["optimizer.form"], right.settings["optimizer.form"]) == ("eps-outside-root", "epsilon-hat")
    assert right.settings["optimizer.lr"] == 0.001  # Keras' float32 learning rate, read as the user wrote it
    effects = {e.setting: e.changes for e in differences(left, right, steps=4)}
    for setting in ("optimizer.eps", "optimizer.form"):
        assert effects[setting]["gradients"] == 0.0  # an optimiser changes nothing until it steps
        assert effects[setting]["parameters after K steps"] > 0
    assert "optimizer.lr" not in effects and "optimizer.beta1" not in effects


def test_an_optimiser_setting_without_counterpart_is_refused(keras):
    model = torch_model()
    with pytest.raises(PortError, match=r"torch Adam: \{'weight_decay': 0.01\} has no counterpart"):
        read(model, torch.optim.Adam(model.parameters(), weight_decay=0.01))
    with pytest.raises(PortError, match="Keras optimiser Lion has no counterpart"):
        read(keras_model(keras), keras.optimizers.Lion())


def test_parity_model_is_the_port_check_spelled_as_the_issue_asks(capsys, keras):
    left, right = f"{EXAMPLES / 'torch_model.py'}:build", f"{EXAMPLES / 'keras_model.py'}:build"
    assert main(["port", left, right, "--steps", "2"]) == 0
    port_out = capsys.readouterr().out
    assert main(["parity", "--model", left, "--model", right, "--steps", "2"]) == 0
    # the same text but for Keras' automatic layer names, numbered by how many layers this process has made
    assert re.sub(r"_\d+'", "'", capsys.readouterr().out) == re.sub(r"_\d+'", "'", port_out)
    assert main(["parity", "--model", left, "--against", "keras", "--steps", "2"]) == 0
    assert "keras defaults" in capsys.readouterr().out


def test_parity_model_against_the_reference_is_the_reading_check(capsys):
    assert main(["parity", "--model", f"{EXAMPLES / 'torch_model.py'}:build", "--against", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "vs the reference built from this reading" in out and "against the numpy reference" in out
    assert "settings that differ" not in out


def test_parity_model_refuses_what_does_not_make_a_port_check(capsys):
    torch_model = f"{EXAMPLES / 'torch_model.py'}:build"
    assert main(["parity", "--model", torch_model]) == 2
    assert "give two models, or one model and --against" in capsys.readouterr().err
    assert main(["parity", "--against", "keras"]) == 2
    assert "give two models" in capsys.readouterr().err
    assert main(["parity", "--model", torch_model, "--against", "keras", "--variants", "relu-he-sgd"]) == 2
    assert "takes no --impl or --variants" in capsys.readouterr().err
