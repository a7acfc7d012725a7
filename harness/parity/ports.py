"""Check a real port: two users' model objects (e.g. a Sequential model of one library and the model it was ported
to in another) read into fwcompare's contract, each checked against the reference, and every setting in which they
differ named with its measured effect.

Reading is the framework package's job (the `reader` module its plug-in names: read_model, harness.core.ports);
which plug-in reads an object is decided by the library its class comes from (the plug-in's `modules`). Effects are
measured on the reference: the left model's network and weights, then the same with one setting changed to the
right model's value, through the parity trace (forward in both modes, gradients, K SGD steps) on the same batches.
The initialiser cannot be changed on weights already drawn, so its effect is measured on the left model's network
started from weights drawn with each side's initialiser from one seed stream.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np

from harness.core.errors import PortError
from harness.core.frameworks import model_class, plugin, portable, reference_name
from harness.core.initializers import initial_params
from harness.core.ports import PortedModel, optimizer_settings, with_optimizer_setting
from harness.core.specs import InitSpec, ModelSpec, OptimizerSpec, TrainSpec
from harness.parity.inputs import PARITY_BATCH_SIZE, PARITY_SEED, parity_batches
from harness.parity.traces import trace_model

EFFECT_TRAIN = TrainSpec(optimizer=OptimizerSpec("sgd", lr=0.01), batch_size=PARITY_BATCH_SIZE, dtype="float64")
"""The training the effects are measured under, in float64: the left model's optimiser, or plain SGD when the user
gave none."""
MEASURED = {
    "forward (training)": ("forward-train", "logits"),
    "forward (inference)": ("forward-inference", "logits"),
    "gradients": ("gradient", None),
    "parameters after K steps": ("params-after-steps", None),
    "inference after K steps": ("forward-inference-after-steps", "logits"),
    "loss after K steps": ("loss-after-steps", "held-out loss"),
}
"""Column -> (trace check, tensor or None for the largest over all of the check's tensors)."""


def framework_port_module(framework: str) -> ModuleType:
    """The reader module of a framework in portable(), its library imported through its plug-in first."""
    if framework not in portable():
        raise PortError(f"no reader of {framework!r} models; choose one of {', '.join(portable())}")
    registered = plugin(framework)
    registered.import_library()
    return importlib.import_module(str(registered.reader))


def port_module(model: Any) -> ModuleType:
    """The reader module for `model`, chosen by the library its class comes from."""
    library = type(model).__module__.split(".")[0]
    for name in portable():
        if library in plugin(name).modules:
            return framework_port_module(name)
    raise PortError(
        f"a {type(model).__module__}.{type(model).__name__} cannot be read; give a model of {', '.join(portable())}"
    )


def with_defaults_of(port: PortedModel, framework: str) -> PortedModel:
    """`port` as `framework` builds it when nobody sets anything: the same layers and weights, with that
    framework's default settings (read from its default layers) wherever `port` has such a setting."""
    module = framework_port_module(framework)
    defaults = module.default_settings()
    optimizer = None
    if port.optimizer is not None:
        optimizer = module.default_optimizer(port.optimizer.name)
        defaults |= optimizer_settings(optimizer)
    settings = {**port.settings, **{k: v for k, v in defaults.items() if k in port.settings}}
    spec = port.model_spec
    for name in ("bn.eps", "bn.momentum", "bn.running_var"):
        if name in settings:
            spec = _with_model_setting(spec, name, settings[name]) or spec
    return replace(
        port, framework=f"{framework} defaults", model_spec=spec, settings=settings, notes=(), optimizer=optimizer
    )


@dataclass(frozen=True)
class ReadModel:
    """A user's model as read, and how far its own inference output is from the reference built from the reading
    (max abs difference on PARITY_BATCH_SIZE rows: near rounding when the reading is faithful)."""

    port: PortedModel
    own_vs_reference: float


def read(model: Any, optimizer: Any = None) -> ReadModel:
    """Read `model` (and the optimiser that trains it, if given) and check the reading against the model's own
    output."""
    module = port_module(model)
    port = module.read_model(model)
    if optimizer is not None:
        port = port.with_optimizer(port_module(optimizer).read_optimizer(optimizer))
    dtype = next(iter(port.params.values())).dtype.name
    x = parity_batches(port.model_spec, dtype, 1).x[0]
    reference = _reference(port.model_spec, replace(EFFECT_TRAIN, dtype=dtype), port.params)
    own = module.inference_logits(model, x)
    return ReadModel(port, float(np.abs(own - reference.forward(x, training=False)).max()))


@dataclass(frozen=True)
class Effect:
    """One setting in which the two models differ, and the largest absolute change it makes to each measured
    quantity of the left model (MEASURED columns; None where the setting cannot be applied to the reference).
    on_drawn_weights: measured from weights drawn with each side's setting (the initialiser), not the left model's
    own; notes: what else was measured (the drawn weights' standard deviations per tensor)."""

    setting: str
    left: Any
    right: Any
    changes: dict[str, float] | None
    on_drawn_weights: bool = False
    notes: tuple[str, ...] = ()


def differences(left: PortedModel, right: PortedModel, steps: int = 10) -> list[Effect]:
    """Every setting whose values differ, with its measured effect; then 'all of them' together. Raises PortError
    when the two are not the same network (layer sizes)."""
    if left.model_spec.layer_sizes != right.model_spec.layer_sizes:
        raise PortError(
            f"the two models are different networks: layer sizes {left.model_spec.layer_sizes} "
            f"({left.framework}) and {right.model_spec.layer_sizes} ({right.framework})"
        )
    names = [
        n for n in dict.fromkeys([*left.settings, *right.settings]) if left.settings.get(n) != right.settings.get(n)
    ]
    params = {key: np.asarray(value, np.float64) for key, value in left.params.items()}
    train = replace(EFFECT_TRAIN, optimizer=left.optimizer or EFFECT_TRAIN.optimizer)
    both_optimizers = left.optimizer is not None and right.optimizer is not None
    baseline = _trace(left.model_spec, train, params, steps)
    effects = []
    changed = (left.model_spec, train)
    for name in names:
        value = right.settings.get(name)
        if name == "init":
            effects.append(_init_effect(left.model_spec, train, left.settings.get(name), value, steps))
            continue
        specs = _with_setting(left.model_spec, train, name, value)
        if name.startswith("optimizer.") and not both_optimizers:
            specs = None  # one side's optimiser is unknown: nothing to change it to
        changes = None if specs is None else _changes(baseline, _trace(*specs, params, steps))
        effects.append(Effect(name, left.settings.get(name), value, changes))
        if specs is not None:
            changed = _with_setting(*changed, name, value) or changed
    on_own_weights = [e for e in effects if e.changes is not None and not e.on_drawn_weights]
    if len(on_own_weights) > 1:
        label = "all of the above but init" if any(e.on_drawn_weights for e in effects) else "all of the above"
        effects.append(Effect(label, "", "", _changes(baseline, _trace(*changed, params, steps))))
    return effects


def _init_effect(spec: ModelSpec, train: TrainSpec, left: Any, right: Any, steps: int) -> Effect:
    """The initialisers' effect: the left network from weights drawn with each initialiser out of one seed stream
    (PARITY_SEED), both traced on the same batches; not measured when either initialiser has no InitSpec."""
    if not (isinstance(left, InitSpec) and isinstance(right, InitSpec)):
        return Effect("init", left, right, None)
    drawn = [initial_params(replace(spec, init=init), PARITY_SEED, "float64") for init in (left, right)]
    left_trace, right_trace = (_trace(spec, train, params, steps) for params in drawn)
    notes = tuple(
        f"{key} std {np.std(drawn[0][key]):.3g} vs {np.std(drawn[1][key]):.3g}"
        for key in drawn[0]
        if key.startswith("dense")
    )
    return Effect("init", left, right, _changes(left_trace, right_trace), on_drawn_weights=True, notes=notes)


def _with_setting(spec: ModelSpec, train: TrainSpec, name: str, value: Any) -> tuple[ModelSpec, TrainSpec] | None:
    """The specs with one PortedModel setting changed, or None for a setting the reference does not take."""
    if name.startswith("optimizer."):
        return spec, replace(train, optimizer=with_optimizer_setting(train.optimizer, name, value))
    changed = _with_model_setting(spec, name, value)
    return None if changed is None else (changed, train)


def _with_model_setting(spec: ModelSpec, name: str, value: Any) -> ModelSpec | None:
    bn = spec.batch_norm
    if name.startswith("bn.") and bn is not None:
        return replace(spec, batch_norm=replace(bn, **{name.removeprefix("bn."): value}))
    if name == "dropout":
        return replace(spec, dropout=tuple(value) if any(value) else ())
    if name in ("activation", "leaky_relu_alpha"):
        return replace(spec, **{name: value})
    return None


def _reference(model_spec: ModelSpec, train_spec: TrainSpec, params: dict[str, np.ndarray]):
    return model_class(reference_name())(model_spec, train_spec, params)


def _trace(model_spec: ModelSpec, train: TrainSpec, params: dict[str, np.ndarray], steps: int) -> dict:
    train = replace(train, seed=PARITY_SEED)
    return trace_model(_reference(model_spec, train, params), parity_batches(model_spec, "float64", steps), steps)


def _changes(a: dict, b: dict) -> dict[str, float]:
    changes = {}
    for column, (check, tensor) in MEASURED.items():
        names = [tensor] if tensor is not None else list(a[check])
        changes[column] = max(float(np.abs(a[check][n] - b[check][n]).max(initial=0.0)) for n in names)
    return changes
