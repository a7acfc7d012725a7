"""A user's own network as a framework plug-in registered in this process (harness.core.frameworks.register_plugin):
parity pairs it with every other framework and a matrix can list it, for as long as the process runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from harness.byo.adapter import optimizer_forms, running_var
from harness.core.errors import FwcompareError, ImplementationError
from harness.core.frameworks import FrameworkPlugin, register_plugin
from harness.core.interface import FrameworkModel

USER_ORDER = 1000
"""After every built-in framework: a user's network is the last column and the right side of its pairs."""


def user_plugin(model_cls: type[FrameworkModel]) -> FrameworkPlugin:
    """The plug-in of `model_cls` (an AdapterModel, or a user's FrameworkModel subclass with the adapter's optional
    `optimizer_form` and `bn_running_var`): named by its `framework`, CPU only, NumPy its only library; raises
    ImplementationError for forms it declares wrongly."""
    impl_cls = getattr(model_cls, "adapter_cls", model_cls)
    forms, variance = optimizer_forms(impl_cls), running_var(impl_cls)

    class UserPlugin(FrameworkPlugin):
        name = model_cls.framework
        label = model_cls.framework
        order = USER_ORDER
        model = model_cls
        modules = ("numpy",)
        requirement = "numpy"
        optimizer_forms: ClassVar[Mapping[str, str]] = forms
        running_var = variance
        user_code = True

    return UserPlugin()


def register_user_model(model_cls: type[FrameworkModel]) -> str:
    """Register `model_cls` as a framework of this process (user_plugin); returns its name."""
    registered = user_plugin(model_cls)
    try:
        register_plugin(registered)
    except FwcompareError as error:  # a name already taken: the user's to change
        raise ImplementationError(str(error)) from None
    return registered.name
