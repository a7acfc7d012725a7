"""A user's CI (harness/parity/pytest_plugin.py, `parity --junit`): the one-line assertion passes on the worked
example and fails with the per-tensor table and diagnosis on a planted bug; the JUnit file says the same."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from byo_registry import restored_registry

from harness.byo.load import load_impl
from harness.cli.main import main
from harness.parity.pytest_plugin import assert_parity

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = f"{ROOT / 'examples' / 'byo' / 'adapter.py'}:ScratchAdapter"


@pytest.fixture(autouse=True)
def each_test_leaves_the_registry_as_it_found_it():
    """--impl and assert_parity register frameworks for the process."""
    with restored_registry():
        yield


@pytest.fixture(scope="module")
def summed_loss_adapter():
    """The example's adapter with its loss and gradients summed over the batch instead of averaged."""
    base = load_impl(EXAMPLE).adapter_cls

    class SummedLoss(base):
        name = "summed"

        def loss_and_grads(self, x, y, dropout_masks):
            loss, grads = super().loss_and_grads(x, y, dropout_masks)
            return loss * len(x), {key: grad * len(x) for key, grad in grads.items()}

    return SummedLoss


def test_assert_parity_passes_on_the_example():
    report = assert_parity(EXAMPLE, variants=["relu-he-sgd"])
    assert any(row.pair == "numpy-vs-scratch" for row in report.rows)


def test_assert_parity_fails_with_the_table_and_the_diagnosis(summed_loss_adapter):
    with pytest.raises(AssertionError) as failure:
        assert_parity(summed_loss_adapter, variants=["relu-he-sgd"])
    message = str(failure.value)
    assert message.startswith("summed does not match")
    assert "numpy-vs-summed relu-he-sgd float64 gradient dense0.W: max abs diff" in message
    assert "the batch size 32: summed over the batch instead of averaged" in message


def test_the_users_test_file_passes_through_the_plugin():
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    user_test = ROOT / "examples" / "byo" / "test_scratch_parity.py"
    # Installed, the plugin loads through its pytest11 entry point; an install older than it needs -p.
    installed = importlib.metadata.entry_points(group="pytest11", name="fwcompare")
    plugin = [] if installed else ["-p", "harness.parity.pytest_plugin"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugin, "-p", "no:cacheprovider", str(user_test)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_junit_file_has_a_failure_per_disagreeing_tensor(tmp_path, summed_loss_adapter, capsys):
    path = tmp_path / "user_net.py"
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'examples' / 'byo')!r})\nfrom adapter import ScratchAdapter\n\n\n"
        "class SummedLoss(ScratchAdapter):\n    name = 'summed'\n\n"
        "    def loss_and_grads(self, x, y, dropout_masks):\n"
        "        loss, grads = super().loss_and_grads(x, y, dropout_masks)\n"
        "        return loss * len(x), {k: g * len(x) for k, g in grads.items()}\n"
    )
    junit = tmp_path / "parity.xml"
    argv = ["parity", "--impl", f"{path}:SummedLoss", "--frameworks", "numpy", "--variants", "relu-he-sgd"]
    assert main([*argv, "--dtype", "float64", "--steps", "2", "--junit", str(junit)]) == 1
    capsys.readouterr()
    suites = {suite.get("name"): suite for suite in ElementTree.parse(junit).getroot()}
    assert suites["numpy-vs-summed"].get("failures") == "9" and suites["numpy-epoch-vs-step"].get("failures") == "0"
    failure = suites["numpy-vs-summed"].find("testcase[@name='gradient dense0.W']/failure")
    assert "summed over the batch instead of averaged" in failure.get("message")
