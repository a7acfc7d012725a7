"""Checking a real port (harness/parity/ports.py, torch_impl/port.py, keras_impl/port.py): a user's torch and Keras
Sequential built with each library's defaults are read faithfully, every default that differs is named with its
measured effect, and a layer without a counterpart is refused by name."""

from __future__ import annotations

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
    assert "GlorotUniform" in settings["init"]
    assert reading.own_vs_reference < 1e-5


def test_every_default_that_differs_is_named_with_its_measured_effect(keras):
    effects = {e.setting: e for e in differences(read(torch_model()).port, read(keras_model(keras)).port, steps=4)}
    assert set(effects) == {"init", "bn.eps", "bn.momentum", "bn.running_var", "all of the above"}
    assert effects["init"].changes is None
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
    assert "give either RIGHT" in capsys.readouterr().err


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
