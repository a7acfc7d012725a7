"""Load a user's implementation named on the command line (`path/to/file.py:ClassName` or `module:ClassName`) and
register it as one more framework for this process; load any other object a user names the same way.

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
from types import ModuleType
from typing import Any

from harness.byo.adapter import DEFAULT_TIME_LIMIT_S, adapter_model, definition_site, raise_site
from harness.byo.plugin import register_user_model
from harness.core.errors import ImplementationError
from harness.core.interface import FrameworkModel


def load_attribute(target: str, what: str = "class") -> Any:
    """The object `target` ('path/to/file.py:name' or 'module:name') names; raises ImplementationError naming the
    file and line of what went wrong (a syntax error, an exception while importing) or the names it does define."""
    location, _, name = target.rpartition(":")
    if not location or not name.isidentifier():
        raise ImplementationError(
            f"{target!r}: give FILE.py:{what} (e.g. examples/byo/adapter.py:ScratchAdapter) or module:{what}"
        )
    module = _import_file(location) if location.endswith(".py") or "/" in location else _import_module(location)
    if not hasattr(module, name):
        kind = inspect.isclass if what == "class" else callable
        defined = sorted(n for n, value in vars(module).items() if kind(value) and not n.startswith("_"))
        raise ImplementationError(
            f"{location} has no {what} {name!r}" + (f"; it defines {', '.join(defined)}" if defined else "")
        )
    return getattr(module, name)


def load_impl(target: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S) -> type[FrameworkModel]:
    """The FrameworkModel class `target` names, loaded and checked (load_attribute), or ImplementationError naming
    the file and line of what went wrong (also a missing method of the adapter protocol)."""
    found = load_attribute(target)
    if not isinstance(found, type):
        raise ImplementationError(f"{target} is a {type(found).__name__}, not a class")
    if issubclass(found, FrameworkModel):
        if not isinstance(getattr(found, "framework", None), str):
            raise ImplementationError(f"{found.__name__} ({definition_site(found)}) needs a `framework` name")
        return found
    return adapter_model(found, target, time_limit_s)


def register_impl(target: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S) -> str:
    """load_impl, then register the class as a framework of this process; returns its framework name."""
    return register_user_model(load_impl(target, time_limit_s))


def _import_file(location: str) -> ModuleType:
    path = Path(location)
    if not path.is_file():
        raise ImplementationError(f"no file {location!r} (relative to {Path.cwd()})")
    spec = importlib.util.spec_from_file_location(f"fwcompare_impl_{path.stem}", path)
    if spec is None or spec.loader is None:  # a suffix no importer reads
        raise ImplementationError(f"{location} is not a Python source file; give a .py file")
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


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            raise ImplementationError(
                f"no module named {error.name!r}; install it, add its folder to PYTHONPATH, or give the "
                "file as path/to/file.py:ClassName"
            ) from None
        raise ImplementationError(f"importing {name} raised {error} at {raise_site(error)}") from error
    except SyntaxError as error:
        raise ImplementationError(f"{error.filename}:{error.lineno}: syntax error: {error.msg}") from None
    except Exception as error:
        raise ImplementationError(
            f"importing {name} raised {type(error).__name__}: {error} at {raise_site(error)}"
        ) from error
