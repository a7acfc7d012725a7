"""A user's implementation that is broken (harness/byo): each problem is one message naming the user's file and
line, and the other frameworks' comparisons still complete."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from byo_registry import registered

from harness.byo.load import load_impl, register_impl
from harness.byo.plugin import user_plugin
from harness.catalog.variants import Variant
from harness.cli.main import main
from harness.core.errors import ImplementationError
from harness.core.frameworks import model_class, plugin
from harness.core.specs import ModelSpec, OptimizerSpec, TrainSpec
from harness.parity.results import NOT_OK, OK
from harness.parity.suite import run_case

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "byo"
VARIANT = Variant("small", "a small network", ModelSpec(6, (5,), 3), TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.1)))


def user_file(tmp_path: Path, body: str, name: str = "user_net.py") -> Path:
    """A user's file whose classes may subclass the worked example's adapter."""
    path = tmp_path / name
    header = f"import sys\nsys.path.insert(0, {str(EXAMPLE_DIR)!r})\nfrom adapter import ScratchAdapter\n\n"
    path.write_text(header + textwrap.dedent(body))
    return path


def line_of(path: Path, text: str) -> int:
    """1-based number of the line of `path` that contains `text`."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def parity_rows(model_cls):
    with registered(model_cls):
        rows = run_case(VARIANT, "float64", {"numpy": model_class("numpy"), model_cls.framework: model_cls}, steps=2)
    errors = [r for r in rows if r.check == "error"]
    reference_fit = [r for r in rows if r.pair == "numpy-epoch-vs-step"]
    assert reference_fit and all(r.status == OK for r in reference_fit), "the reference's own checks must complete"
    return errors


def test_an_exception_while_importing_names_the_file_and_line(tmp_path):
    path = user_file(tmp_path, "value = 1 / 0\n")
    with pytest.raises(ImplementationError) as error:
        load_impl(f"{path}:ScratchAdapter")
    assert f"{path}:{line_of(path, '1 / 0')}" in str(error.value)
    assert "ZeroDivisionError" in str(error.value)


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    path = user_file(tmp_path, "def broken(:\n    pass\n")
    with pytest.raises(ImplementationError, match=re.escape(f"{path}:{line_of(path, 'def broken')}: syntax error")):
        load_impl(f"{path}:Broken")


def test_a_missing_file_module_or_class_is_named(tmp_path):
    with pytest.raises(ImplementationError, match="no file"):
        load_impl(f"{tmp_path}/absent.py:Net")
    with pytest.raises(ImplementationError, match="no module named 'absent_user_module'"):
        load_impl("absent_user_module:Net")
    path = user_file(tmp_path, "class Other:\n    pass\n")
    with pytest.raises(ImplementationError, match="has no class 'Net'; it defines Other, ScratchAdapter"):
        load_impl(f"{path}:Net")
    with pytest.raises(ImplementationError, match=re.escape("give FILE.py:class")):
        load_impl(str(path))
    text = tmp_path / "net.txt"
    text.write_text("class Net:\n    pass\n")
    with pytest.raises(ImplementationError, match=r"net\.txt is not a Python source file; give a \.py file"):
        load_impl(f"{text}:Net")


def test_a_missing_method_is_named_with_the_class_definition(tmp_path):
    path = user_file(
        tmp_path,
        """
        class Incomplete:
            def __init__(self, model_spec, train_spec, params):
                pass

            def forward(self, x, training, dropout_masks):
                return x
        """,
    )
    with pytest.raises(ImplementationError) as error:
        load_impl(f"{path}:Incomplete")
    message = str(error.value)
    assert f"{path}:{line_of(path, 'class Incomplete')}" in message
    assert "lacks 3 method(s)" in message and "loss_and_grads(self, x, y, dropout_masks)" in message


def test_declared_forms_become_the_plugins_rule_named_forms(tmp_path):
    path = user_file(
        tmp_path,
        """
        class KerasLike(ScratchAdapter):
            name = "keras-like"
            optimizer_form = "keras"
            bn_running_var = "biased"

        class Mixed(ScratchAdapter):
            name = "mixed"
            optimizer_form = {"momentum": "velocity"}

        class Misnamed(ScratchAdapter):
            optimizer_form = {"adam": "velocity"}
        """,
    )
    keras_like = user_plugin(load_impl(f"{path}:KerasLike"))
    assert dict(keras_like.optimizer_forms) == dict(plugin("keras").optimizer_forms)  # the old name, by rule
    assert keras_like.running_var == "biased" and keras_like.user_code
    mixed = user_plugin(load_impl(f"{path}:Mixed"))
    assert mixed.optimizer_forms["momentum"] == "velocity" and mixed.optimizer_forms["adam"] == "eps-outside-root"
    with pytest.raises(ImplementationError, match=r"optimizer_form has 'adam': 'velocity' \(one of eps-outside"):
        load_impl(f"{path}:Misnamed")


def test_a_taken_framework_name_is_refused_and_the_registry_kept(tmp_path):
    path = user_file(tmp_path, 'class Torch(ScratchAdapter):\n    name = "torch"\n')
    with pytest.raises(ImplementationError, match="framework name 'torch' is taken"):
        register_impl(f"{path}:Torch")
    assert plugin("torch").model == "torch_impl.model:MLP"


def test_wrong_gradient_keys_become_an_error_row_naming_the_method(tmp_path):
    path = user_file(
        tmp_path,
        """
        class WrongKeys(ScratchAdapter):
            name = "wrong-keys"

            def loss_and_grads(self, x, y, dropout_masks):
                loss, grads = super().loss_and_grads(x, y, dropout_masks)
                grads["W0"] = grads.pop("dense0.W")
                return loss, grads
        """,
    )
    errors = parity_rows(load_impl(f"{path}:WrongKeys"))
    assert errors and errors[0].status == NOT_OK
    note = errors[0].note
    assert f"{path}:{line_of(path, 'def loss_and_grads')}" in note
    assert "missing keys ['dense0.W'] and unexpected keys ['W0']" in note


def test_a_transposed_kernel_shape_is_named_as_the_transpose(tmp_path):
    path = user_file(
        tmp_path,
        """
        class Untransposed(ScratchAdapter):
            name = "untransposed"

            def get_params(self):
                params = super().get_params()
                params["dense0.W"] = params["dense0.W"].T
                return params
        """,
    )
    errors = parity_rows(load_impl(f"{path}:Untransposed"))
    note = errors[0].note
    assert "dense0.W: got (5, 6), want (6, 5) (the transpose: canonical kernels are (fan_in, fan_out))" in note
    assert f"{path}:{line_of(path, 'def get_params')}" in note


def test_a_nan_is_named_with_the_method_that_returned_it(tmp_path):
    path = user_file(
        tmp_path,
        """
        import numpy as np

        class MakesNaN(ScratchAdapter):
            name = "makes-nan"

            def forward(self, x, training, dropout_masks):
                return super().forward(x, training, dropout_masks) * np.nan
        """,
    )
    errors = parity_rows(load_impl(f"{path}:MakesNaN"))
    note = errors[0].note
    assert "returned NaN or infinity in the logits" in note
    assert f"{path}:{line_of(path, 'def forward')}" in note


def test_a_hanging_step_is_stopped_at_the_line_it_runs(tmp_path):
    path = user_file(
        tmp_path,
        """
        class Hangs(ScratchAdapter):
            name = "hangs"

            def train_step(self, x, y, dropout_masks, lr):
                while True:
                    lr = lr + 0
        """,
    )
    errors = parity_rows(load_impl(f"{path}:Hangs", time_limit_s=0.5))
    note = errors[0].note
    assert "Hangs.train_step" in note and "did not return within 0.5 s" in note
    loop = (line_of(path, "while True"), line_of(path, "lr = lr + 0"))
    assert any(f"{path}:{line} in train_step" in note for line in loop), note  # stopped inside the loop


def test_an_exception_in_user_code_names_the_line_that_raised(tmp_path):
    path = user_file(
        tmp_path,
        """
        class Raises(ScratchAdapter):
            name = "raises"

            def loss_and_grads(self, x, y, dropout_masks):
                raise RuntimeError("not written yet")
        """,
    )
    errors = parity_rows(load_impl(f"{path}:Raises"))
    assert f"RuntimeError: not written yet at {path}:{line_of(path, 'not written yet')}" in errors[0].note


def test_parity_cli_compares_the_others_when_the_impl_cannot_load(tmp_path, capsys):
    path = user_file(tmp_path, "import not_a_real_module_here\n")
    argv = ["parity", "--impl", f"{path}:Net", "--frameworks", "numpy", "--variants", "relu-he-sgd"]
    code = main([*argv, "--dtype", "float64", "--steps", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "OK        numpy-epoch-vs-step" in out  # the reference's own check still ran
    assert f"UNAVAILABLE --impl {path}:Net" in out and f"{path}:{line_of(path, 'import not_a_real')}" in out
    assert "parity FAILED" in out


def test_an_unsupported_check_that_raises_fails_only_that_network(tmp_path, capsys):
    path = user_file(
        tmp_path,
        """
        class BadCheck(ScratchAdapter):
            name = "bad-check"

            @staticmethod
            def unsupported(model_spec, train_spec):
                return model_spec.no_such_field
        """,
    )
    argv = ["parity", "--impl", f"{path}:BadCheck", "--frameworks", "numpy", "--variants", "relu-he-sgd"]
    assert main([*argv, "--dtype", "float64", "--steps", "2"]) == 1
    out = capsys.readouterr().out
    assert "NOT OK    numpy-vs-bad-check" in out and "bad-check failed: BadCheck.unsupported" in out
    assert f"AttributeError: 'ModelSpec' object has no attribute 'no_such_field' at {path}:" in out
    assert "OK        numpy-epoch-vs-step" in out
