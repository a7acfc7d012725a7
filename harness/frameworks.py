"""Framework registry: names to implementations, imported lazily so a machine without TensorFlow (or torch) still
runs the other columns and says clearly which framework is missing."""

from __future__ import annotations

import importlib

from harness.errors import FrameworkUnavailableError, UnknownNameError
from harness.interface import FrameworkModel

# name -> (module holding class MLP, the pip requirement that provides the framework, its top-level modules)
FRAMEWORKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "numpy": ("reference.model", "numpy", ("numpy",)),
    "torch": ("torch_impl.model", "torch==2.13.0", ("torch",)),
    "keras": ("keras_impl.model", "tensorflow-cpu==2.21.0 keras", ("tensorflow", "keras")),
}


def model_class(name: str) -> type[FrameworkModel]:
    """The MLP class of framework `name`; raises FrameworkUnavailableError if its library cannot be imported."""
    if name not in FRAMEWORKS:
        raise UnknownNameError(f"unknown framework {name!r}; available: {', '.join(FRAMEWORKS)}")
    module_name, requirement, libraries = FRAMEWORKS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if (error.name or "").split(".")[0] not in libraries:
            raise  # a bug inside fwcompare, not a missing framework: show it as it is
        raise FrameworkUnavailableError(
            f"framework {name!r} is unavailable here ({error}); install it with `pip install {requirement}` "
            f"or leave it out with --frameworks"
        ) from error
    return module.MLP


def available_frameworks() -> dict[str, str | None]:
    """{name: None if importable, else the reason it is not}."""
    status: dict[str, str | None] = {}
    for name in FRAMEWORKS:
        try:
            model_class(name)
            status[name] = None
        except FrameworkUnavailableError as error:
            status[name] = str(error)
    return status
