"""Load a user's implementation named on the command line (`path/to/file.py:ClassName` or `module:ClassName`) and
register it as one more framework for this process.

The class is either an adapter (harness.byo.adapter's protocol) or a complete harness.core.interface.FrameworkModel
subclass with its own `framework` name. A file's folder is put at the front of sys.path while it loads, so it can
import its neighbours (an adapter next to its network).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from harness.byo.adapter import DEFAULT_TIME_LIMIT_S, adapter_model, definition_site, native_forms, raise_site
from harness.core.errors import ImplementationError
from harness.core.frameworks import register_framework
from harness.core.interface import FrameworkModel


def load_impl(target: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S) -> type[FrameworkModel]:
    """The FrameworkModel class `target` names, loaded and checked; raises ImplementationError naming the file and
    line of what went wrong (a syntax error, an exception while importing, a missing class or method)."""
    location, _, class_name = target.rpartition(":")
    if not location or not class_name.isidentifier():
        raise ImplementationError(
            f"--impl {target!r}: give FILE.py:ClassName (e.g. examples/byo/adapter.py:ScratchAdapter) or "
            "module:ClassName"
        )
    module = _import_file(location) if location.endswith(".py") or "/" in location else _import_module(location)
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        classes = sorted(name for name, value in vars(module).items() if inspect.isclass(value))
        raise ImplementationError(
            f"{location} has no class {class_name!r}" + (f"; it defines {', '.join(classes)}" if classes else "")
        )
    if issubclass(found, FrameworkModel):
        if not isinstance(getattr(found, "framework", None), str):
            raise ImplementationError(f"{found.__name__} ({definition_site(found)}) needs a `framework` name")
        return found
    return adapter_model(found, target, time_limit_s)


def register_impl(target: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S) -> str:
    """load_impl, then register the class as a framework of this process; returns its framework name."""
    model_cls = load_impl(target, time_limit_s)
    register_framework(model_cls, native_forms(getattr(model_cls, "adapter_cls", model_cls)))
    return model_cls.framework


def _import_file(location: str):
    path = Path(location)
    if not path.is_file():
        raise ImplementationError(f"--impl: no file {location!r} (relative to {Path.cwd()})")
    spec = importlib.util.spec_from_file_location(f"fwcompare_impl_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        del sys.modules[spec.name]
        raise ImplementationError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:
        del sys.modules[spec.name]
        raise ImplementationError(
            f"importing {location} raised {type(error).__name__}: {error} at {raise_site(error)}"
        ) from error
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            raise ImplementationError(
                f"--impl: no module named {error.name!r}; install it, add its folder to PYTHONPATH, or give the "
                "file as path/to/file.py:ClassName"
            ) from None
        raise ImplementationError(f"importing {name} raised {error} at {raise_site(error)}") from error
    except SyntaxError as error:
        raise ImplementationError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:
        raise ImplementationError(
            f"importing {name} raised {type(error).__name__}: {error} at {raise_site(error)}"
        ) from error
