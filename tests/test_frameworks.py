"""The framework registry: plug-ins found through the entry point group, a missing framework library reported as
unavailable (and nothing else), registrations that conflict refused."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
    registered = ", ".join(frameworks.framework_names())
    assert registered.startswith("numpy, torch, keras")
    with pytest.raises(UnknownNameError, match=f"available: {registered}$"):
        frameworks.model_class("no-such-framework")


def test_the_built_ins_register_through_the_entry_point_group_of_pyproject():
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    for name in ("numpy", "torch", "keras"):
        package = frameworks.plugin(name).model.split(".")[0]
        assert f'{name} = "{package}.plugin:PLUGIN"' in pyproject
    assert frameworks.reference_name() == "numpy"
    assert not any(frameworks.plugin(name).runs_every_form for name in ("torch", "keras"))


PLUGIN_SOURCE = textwrap.dedent("""
    from harness.core.frameworks import FrameworkPlugin


    class FakePlugin(FrameworkPlugin):
        name = "fakefw"
        label = "Fake"
        order = 50
        model = "fake_fw.model:MLP"
        modules = ("fake_fw_library",)
        requirement = "fake-fw-library"
        optimizer_forms = {
            "sgd": "plain",
            "momentum": "velocity",
            "nesterov": "velocity",
            "adagrad": "eps-inside-root",
            "rmsprop": "eps-inside-root",
            "adam": "eps-outside-root",
        }
        running_var = "biased"


    PLUGIN = FakePlugin()
""")


def install_plugin(site: Path, distribution: str, entry_points: str, source: str = PLUGIN_SOURCE) -> None:
    """A package fake_fw and an installed distribution's metadata declaring `entry_points`, under `site`."""
    (site / "fake_fw").mkdir(exist_ok=True)
    (site / "fake_fw" / "__init__.py").write_text("")
    (site / "fake_fw" / "plugin.py").write_text(source)
    info = site / f"{distribution}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[fwcompare.frameworks]\n{entry_points}\n")


def run_with(site: Path, code: str) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join([str(Path(__file__).resolve().parents[1]), str(site)])
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": pythonpath},
        check=False,
    )


def test_a_third_party_framework_registers_through_its_distribution_metadata(tmp_path):
    install_plugin(tmp_path, "fake_fw", "fakefw = fake_fw.plugin:PLUGIN")
    done = run_with(tmp_path, "from harness.cli.main import main; main(['list', '--json'])")
    assert done.returncode == 0, done.stderr
    listed = {row["name"]: row for row in json.loads(done.stdout)["frameworks"]}
    assert list(listed) == ["numpy", "torch", "keras", "jax", "fakefw"]  # in plug-in order
    assert not listed["fakefw"]["available"]
    assert "no module named 'fake_fw_library'" in listed["fakefw"]["reason"]
    assert "pip install fake-fw-library" in listed["fakefw"]["reason"]


# A registry that cannot be read: (entry point, plug-in source, what the one line on stderr says).
BROKEN_REGISTRIES = {
    "a name registered twice": (
        "torch = fake_fw.plugin:PLUGIN",
        PLUGIN_SOURCE,
        "framework 'torch' is registered twice, as torch_impl.plugin:PLUGIN (pyproject.toml of this checkout) and as "
        "fake_fw.plugin:PLUGIN (distribution fake_fw); uninstall one of them",
    ),
    "a plug-in without its native forms": (
        "fakefw = fake_fw.plugin:PLUGIN",
        PLUGIN_SOURCE.replace('"adam": "eps-outside-root",', ""),
        "framework 'fakefw' (fake_fw.plugin:PLUGIN, distribution fake_fw) does not declare its native forms: "
        "optimizer_forms['adam']=None (one of eps-outside-root, epsilon-hat); see harness.core.frameworks",
    ),
    "an entry point that cannot be imported": (
        "fakefw = fake_fw.no_such_module:PLUGIN",
        PLUGIN_SOURCE,
        "entry point fakefw = 'fake_fw.no_such_module:PLUGIN' (distribution fake_fw) cannot be loaded "
        "(ModuleNotFoundError: No module named 'fake_fw.no_such_module'); install the package it names, or remove "
        "that registration",
    ),
}


@pytest.mark.parametrize("broken", list(BROKEN_REGISTRIES))
@pytest.mark.parametrize("command", ["list", "run"])
def test_the_cli_reports_a_broken_registry_in_one_line_naming_the_fix(tmp_path, broken, command):
    entry_point, source, message = BROKEN_REGISTRIES[broken]
    install_plugin(tmp_path, "fake_fw", entry_point, source)
    # A run this small would take seconds if the registry were read and the run went ahead.
    argv = ["list"] if command == "list" else ["run", "--dataset", "digits", "--frameworks", "numpy", "--seeds", "1"]
    argv += [] if command == "list" else ["--epochs", "1", "--threads", "1", "--out", str(tmp_path / "run")]
    done = run_with(tmp_path, f"from harness.cli.main import main; raise SystemExit(main({argv!r}))")
    assert done.returncode == 2
    assert done.stderr == f"fwcompare: error: {message}\n"
    assert not (tmp_path / "run").exists()


def test_stale_metadata_of_this_project_gives_way_to_its_pyproject(tmp_path):
    """An editable install whose metadata predates a change of pyproject.toml: the checkout's table wins."""
    install_plugin(tmp_path, "fwcompare", "torch = fake_fw.plugin:PLUGIN")
    done = run_with(tmp_path, "from harness.core.frameworks import plugin; print(type(plugin('torch')).__module__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch_impl.plugin"


def test_a_plugin_that_does_not_declare_its_native_forms_is_refused(tmp_path):
    source = PLUGIN_SOURCE.replace('"adam": "eps-outside-root",', "").replace('"biased"', '"sometimes"')
    install_plugin(tmp_path, "fake_fw", "fakefw = fake_fw.plugin:PLUGIN", source)
    done = run_with(tmp_path, "from harness.core.frameworks import plugins; plugins()")
    assert done.returncode != 0
    assert "framework 'fakefw' (fake_fw.plugin:PLUGIN, distribution fake_fw) does not declare its native forms" in (
        done.stderr
    )
    assert "optimizer_forms['adam']=None" in done.stderr and "running_var='sometimes'" in done.stderr


def test_a_schema1_form_name_declared_twice_is_refused(tmp_path):
    """Earlier runs' cell keys digest forms under the schema-1 names: a second plug-in claiming one would move them."""
    source = PLUGIN_SOURCE.replace('running_var = "biased"', 'running_var = "biased"\n    schema1_form_name = "keras"')
    install_plugin(tmp_path, "fake_fw", "fakefw = fake_fw.plugin:PLUGIN", source)
    done = run_with(tmp_path, "from harness.core.frameworks import plugins; plugins()")
    assert done.returncode != 0
    assert "schema-1 form names ['torch', 'keras', 'keras'] are declared more than once" in done.stderr


def test_the_schema1_form_names_are_the_forms_their_frameworks_run():
    names = frameworks.schema1_form_names()
    assert list(names) == ["torch", "keras"]
    assert names["torch"] == dict(frameworks.plugin("torch").optimizer_forms)
    assert names["keras"] == dict(frameworks.plugin("keras").optimizer_forms)
