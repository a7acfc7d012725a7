"""Framework registry: names to implementations, imported lazily so a machine without TensorFlow (or torch) still
runs the other columns and says clearly which framework is missing."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from types import ModuleType

from harness.core.conventions import NATIVE_FORMS
from harness.core.errors import FrameworkUnavailableError, UnknownNameError
from harness.core.interface import FrameworkModel

# name -> (module holding class MLP, the pip requirement that provides the framework, its top-level modules)
FRAMEWORKS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "numpy": ("reference.model", "numpy", ("numpy",)),
    "torch": ("torch_impl.model", "torch==2.13.0", ("torch",)),
    "keras": ("keras_impl.model", "tensorflow-cpu==2.21.0 keras", ("tensorflow", "keras")),
}

# name -> a class registered in this process (a user's own network, harness.byo); CPU-only, NumPy-like.
REGISTERED: dict[str, type[FrameworkModel]] = {}


def register_framework(model_cls: type[FrameworkModel], native_forms: tuple[str, str]) -> None:
    """Make `model_cls` one more framework, named `model_cls.framework`, for this process: parity pairs it with
    every other framework and a matrix can list it. native_forms is (optimizer form, BN running-variance
    convention) it runs, as in harness.core.conventions.NATIVE_FORMS. A built-in name cannot be taken."""
    name = model_cls.framework
    if name in FRAMEWORKS:
        raise UnknownNameError(f"framework name {name!r} is built in; give your implementation another name")
    REGISTERED[name] = model_cls
    NATIVE_FORMS[name] = native_forms


def framework_names() -> tuple[str, ...]:
    """The built-in frameworks, then those registered in this process."""
    return (*FRAMEWORKS, *REGISTERED)


def model_class(name: str) -> type[FrameworkModel]:
    """The MLP class of framework `name`; raises FrameworkUnavailableError if its library cannot be imported."""
    if name in REGISTERED:
        return REGISTERED[name]
    if name not in FRAMEWORKS:
        raise UnknownNameError(f"unknown framework {name!r}; available: {', '.join(framework_names())}")
    module_name, requirement, libraries = FRAMEWORKS[name]
    try:
        if name == "keras":
            import_tensorflow()
        module = importlib.import_module(module_name)
    except ImportError as error:
        if (error.name or "").split(".")[0] not in libraries:
            raise  # a bug inside fwcompare, not a missing framework: show it as it is
        raise FrameworkUnavailableError(
            f"framework {name!r} is unavailable here ({error}); install it with `pip install {requirement}` "
            f"or leave it out with --frameworks"
        ) from error
    return module.MLP


def check_device(device: str, frameworks: Iterable[str]) -> None:
    """Raise the framework's DeviceUnavailableError (one line, with the fix) when `device` is 'cuda' and an
    installed framework among `frameworks` sees no GPU. NumPy always runs on the CPU; a framework that is not
    installed is left to its cells (recorded as unavailable). Imports a framework only for 'cuda'."""
    if device != "cuda":
        return
    for name in frameworks:
        if name == "numpy" or name in REGISTERED or available_frameworks()[name] is not None:
            continue
        if name == "keras":
            import_tensorflow()
        package = FRAMEWORKS[name][0].rsplit(".", 1)[0]
        importlib.import_module(f"{package}.device").resolve_device(device)


def available_frameworks() -> dict[str, str | None]:
    """{name: None if its libraries are installed, else the reason it is not available}.

    Looks the libraries up (importlib.util.find_spec) without importing them: importing TensorFlow alone takes
    seconds, which `fwcompare list` should not cost. A library that is installed but broken shows up when a run
    imports it, as that framework's cells being unavailable.
    """
    status: dict[str, str | None] = {}
    for name, (_, requirement, libraries) in FRAMEWORKS.items():
        missing = [library for library in libraries if importlib.util.find_spec(library) is None]
        status[name] = (
            f"framework {name!r} is unavailable here (no module named {', '.join(map(repr, missing))}); install it "
            f"with `pip install {requirement}` or leave it out with --frameworks"
            if missing
            else None
        )
    return status


# The lines TensorFlow's C++ runtime prints while it loads: absl's notice and glog-style INFO/WARNING lines
# (I0000 00:00:... port.cc:153] oneDNN custom operations are on ...).
_TENSORFLOW_START_UP_LINE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} )")


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, without its C++ start-up log unless the user set TF_CPP_MIN_LOG_LEVEL.

    TensorFlow 2.21 logs before absl's logging is initialised, where TF_CPP_MIN_LOG_LEVEL is not yet read, so
    setting it does not silence those lines: file descriptor 2 is redirected while TensorFlow loads and everything
    but those lines (errors, Python warnings) is passed on. Raises ImportError like the import itself.
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return importlib.import_module("tensorflow")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # for what TensorFlow logs later, once absl reads it
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module("tensorflow")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line for line in captured.read().splitlines(keepends=True) if not _TENSORFLOW_START_UP_LINE.match(line)
            ]
            os.write(2, b"".join(kept))
