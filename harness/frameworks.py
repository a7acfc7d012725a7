"""Framework registry: names to implementations, imported lazily so a machine without TensorFlow (or torch) still
runs the other columns and says clearly which framework is missing."""

from __future__ import annotations

import importlib

from harness.errors import FrameworkUnavailableError, UnknownNameError
from harness.interface import FrameworkModel

# name -> (module holding class MLP, the pip requirement that provides the framework)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "numpy": ("reference.model", "numpy"),
    "torch": ("torch_impl.model", "torch==2.13.0"),
    "keras": ("keras_impl.model", "tensorflow-cpu==2.21.0 keras"),
}


def model_class(name: str) -> type[FrameworkModel]:
    """The MLP class of framework `name`; raises FrameworkUnavailableError if its library cannot be imported."""
    if name not in FRAMEWORKS:
        raise UnknownNameError(f"unknown framework {name!r}; available: {', '.join(FRAMEWORKS)}")
    module_name, requirement = FRAMEWORKS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
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
