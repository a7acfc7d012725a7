"""The NumPy reference as a fwcompare framework plug-in (harness.core.frameworks): it runs every rule form a spec
names, on the CPU."""

from __future__ import annotations

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


PLUGIN = ReferencePlugin()
