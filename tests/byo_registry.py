"""Users' networks registered for one test (harness.byo registers them for the whole process), the registry left
as the test found it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from harness.byo.plugin import register_user_model
from harness.core.frameworks import plugins
from harness.core.interface import FrameworkModel


@contextlib.contextmanager
def restored_registry() -> Iterator[None]:
    """Inside the block plug-ins may be registered (--impl, assert_parity); afterwards the registry is as before."""
    saved = dict(plugins())
    try:
        yield
    finally:
        registered = plugins()
        registered.clear()
        registered.update(saved)


@contextlib.contextmanager
def registered(model_cls: type[FrameworkModel]) -> Iterator[None]:
    """`model_cls` a registered framework inside the block only."""
    with restored_registry():
        register_user_model(model_cls)
        yield
