"""Framework models with a planted failure, for tests of what the runner does when a cell breaks: monkeypatch
`harness.run.runner.model_class` with `breaking_model_class(framework, message)`."""

from __future__ import annotations

from collections.abc import Callable

from harness.core.frameworks import model_class
from harness.core.interface import FrameworkModel


def breaking_model_class(framework: str, message: str) -> Callable[[str], type[FrameworkModel]]:
    """model_class, except that `framework`'s model raises RuntimeError(message) in every train_epoch."""

    def patched(name: str) -> type[FrameworkModel]:
        base = model_class(name)
        if name != framework:
            return base

        class Breaking(base):
            def train_epoch(self, data, order, dropout_masks=None):
                raise RuntimeError(message)

        return Breaking

    return patched
