"""reference/ must work on a machine without torch, TensorFlow or Keras: it never imports them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import reference

FORBIDDEN = ("torch", "tensorflow", "keras")
REFERENCE_DIR = Path(reference.__file__).resolve().parent

BLOCKED_IMPORT = f"""
import sys
for name in {FORBIDDEN!r}:
    sys.modules[name] = None  # any import of it now raises ImportError
import reference, reference.activations, harness.core.initializers, reference.layers, reference.losses
import reference.model, reference.optimizers, harness.core.schedules
from harness.core.frameworks import model_class
from harness.core.specs import ModelSpec, TrainSpec
from harness.core.initializers import initial_params
spec = ModelSpec(4, (3,), 2)
model = model_class("numpy")(spec, TrainSpec(), initial_params(spec, 0))
model.learning_rate(0)
print(model.forward(initial_params(spec, 1)["dense0.W"].T[:, :4]).shape)
"""


def test_reference_imports_and_runs_with_frameworks_blocked() -> None:
    completed = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "(3, 2)"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_reference_module_imports_a_framework() -> None:
    files = sorted(REFERENCE_DIR.glob("*.py"))
    assert len(files) >= 7, f"expected the reference modules in {REFERENCE_DIR}"
    offenders = {f.name: sorted(imported_roots(f) & set(FORBIDDEN)) for f in files}
    assert not {name: roots for name, roots in offenders.items() if roots}
