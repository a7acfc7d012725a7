"""The framework registry reports a missing framework library as unavailable, and nothing else."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from harness.core import frameworks
from harness.core.errors import FrameworkUnavailableError, UnknownNameError


def failing_import(framework_module: str, missing_module: str):
    """importlib.import_module, except that importing `framework_module` fails for lack of `missing_module`."""
    real_import = importlib.import_module

    def import_module(name: str):
        if name == framework_module:
            raise ModuleNotFoundError(f"No module named {missing_module!r}", name=missing_module)
        return real_import(name)

    return import_module


def test_a_missing_framework_library_is_unavailable_with_the_install_command(monkeypatch):
    monkeypatch.setattr(importlib, "import_module", failing_import("keras_impl.model", "tensorflow"))
    with pytest.raises(FrameworkUnavailableError, match=r"unavailable.*pip install tensorflow-cpu==2\.21"):
        frameworks.model_class("keras")


def test_availability_is_looked_up_without_importing(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "tensorflow" else real_find_spec(name, *args)
    )
    available = frameworks.available_frameworks()
    assert "no module named 'tensorflow'" in available["keras"] and "pip install tensorflow-cpu" in available["keras"]
    assert available["numpy"] is None and available["torch"] is None


def test_an_import_error_inside_the_project_is_not_disguised_as_unavailable(monkeypatch):
    monkeypatch.setattr(importlib, "import_module", failing_import("torch_impl.model", "harness.no_such_module"))
    with pytest.raises(ModuleNotFoundError, match=r"harness\.no_such_module"):
        frameworks.model_class("torch")


def test_every_registered_framework_loads_here_and_unknown_names_list_the_valid_ones():
    assert all(reason is None for reason in frameworks.available_frameworks().values())
    assert frameworks.model_class("numpy").framework == "numpy"
    with pytest.raises(UnknownNameError, match="available: numpy, torch, keras"):
        frameworks.model_class("jax")
