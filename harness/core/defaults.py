"""A library's own defaults as data: what a model gets where the user writes nothing, each with its source.

A framework plug-in lists its library's defaults (`FrameworkPlugin.library_defaults`: setting -> LibraryDefault);
harness.core.conventions adds the rule forms it already declares (optimizer_forms, running_var) and gives the whole
table (`library_defaults`). `with_setting` puts one default into a pair of specs, so the conventions study can
switch one convention at a time, and `defaults_mode` puts all of them in: the model as a user would write it with
that library, with nothing set but the architecture, the learning rate and SGD's momentum (what every user writes).

Settings, by name (the names of harness.core.ports' settings where both exist):
  init                       InitSpec of every Dense layer (kernel and bias)
  bn.momentum, bn.eps        BatchNormSpec.momentum (the weight the running average keeps) and eps
  bn.running_var             BatchNormSpec.running_var
  <optimizer>.<field>        an OptimizerSpec field of that update rule (adam.eps, rmsprop.rho, adagrad.form, ...)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.core.errors import SpecError
from harness.core.ports import OPTIMIZER_FIELDS
from harness.core.specs import OPTIMIZERS, InitSpec, ModelSpec, OptimizerSpec, TrainSpec

BATCH_NORM_SETTINGS = ("bn.momentum", "bn.eps", "bn.running_var")
USER_WRITTEN = ("lr", "momentum")
"""OptimizerSpec fields a user always writes (the learning rate, SGD's momentum): defaults mode keeps the spec's."""


@dataclass(frozen=True)
class LibraryDefault:
    """One default: its value in fwcompare's terms (an InitSpec, a number in the spec's meaning, a form name) and
    where it is stated (a documentation URL, or the library's code path and function)."""

    value: Any
    source: str


def check_setting(name: str) -> None:
    """SpecError unless `name` is a setting this module knows (module docstring)."""
    if name == "init" or name in BATCH_NORM_SETTINGS:
        return
    optimizer, _, field_name = name.partition(".")
    if optimizer in OPTIMIZERS and field_name in {f.name for f in fields(OptimizerSpec)} - {"name"}:
        return
    raise SpecError(
        f"{name!r} is not a library setting; use init, {', '.join(BATCH_NORM_SETTINGS)} or <optimizer>.<field> "
        f"(optimizer one of {', '.join(OPTIMIZERS)})"
    )


def applies(name: str, model_spec: ModelSpec, train_spec: TrainSpec) -> bool:
    """Whether setting `name` is read by these specs: BN settings only with batch norm, an optimiser's settings only
    for that optimiser and only the fields its update rule reads (harness.core.ports.OPTIMIZER_FIELDS)."""
    check_setting(name)
    if name == "init":
        return True
    if name in BATCH_NORM_SETTINGS:
        return model_spec.batch_norm is not None
    optimizer, _, field_name = name.partition(".")
    return optimizer == train_spec.optimizer.name and field_name in OPTIMIZER_FIELDS[optimizer]


def setting_value(name: str, model_spec: ModelSpec, train_spec: TrainSpec) -> Any:
    """The value of setting `name` in these specs (it must apply to them)."""
    if not applies(name, model_spec, train_spec):
        raise SpecError(f"setting {name!r} does not apply to this model and optimiser")
    if name == "init":
        return model_spec.init
    if name in BATCH_NORM_SETTINGS:
        return getattr(model_spec.batch_norm, name.removeprefix("bn."))
    return getattr(train_spec.optimizer, name.partition(".")[2])


def with_setting(name: str, value: Any, model_spec: ModelSpec, train_spec: TrainSpec) -> tuple[ModelSpec, TrainSpec]:
    """The specs with setting `name` changed to `value` and nothing else; SpecError when it does not apply."""
    if not applies(name, model_spec, train_spec):
        raise SpecError(f"setting {name!r} does not apply to this model and optimiser")
    if name == "init":
        if not isinstance(value, InitSpec):
            raise SpecError(f"setting 'init' takes an InitSpec, not {value!r}")
        return replace(model_spec, init=value), train_spec
    if name in BATCH_NORM_SETTINGS:
        batch_norm = replace(model_spec.batch_norm, **{name.removeprefix("bn."): value})  # type: ignore[type-var]
        return replace(model_spec, batch_norm=batch_norm), train_spec
    field_name = name.partition(".")[2]
    return model_spec, replace(train_spec, optimizer=replace(train_spec.optimizer, **{field_name: value}))


def defaults_mode(
    defaults: Mapping[str, LibraryDefault], model_spec: ModelSpec, train_spec: TrainSpec
) -> tuple[ModelSpec, TrainSpec]:
    """The specs with every applicable default of `defaults` put in, except what a user always writes
    (USER_WRITTEN)."""
    for name, default in defaults.items():
        user_written = name.partition(".")[0] in OPTIMIZERS and name.partition(".")[2] in USER_WRITTEN
        if user_written or not applies(name, model_spec, train_spec):
            continue
        model_spec, train_spec = with_setting(name, default.value, model_spec, train_spec)
    return model_spec, train_spec
