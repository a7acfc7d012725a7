"""The NumPy reference as a fwcompare framework plug-in (harness.core.frameworks): it runs every rule form a spec
names, on the CPU."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.core.frameworks import FrameworkPlugin


class ReferencePlugin(FrameworkPlugin):
    name = "numpy"
    label = "NumPy reference"
    order = 0
    runs_every_form = True
    model = "reference.model:MLP"
    modules = ("numpy",)
    requirement = "numpy"
    distributions = ("numpy",)
    gemm_library = "numpy"

    def matmul(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        return lambda: np.matmul(a, b, out=out)


PLUGIN = ReferencePlugin()
