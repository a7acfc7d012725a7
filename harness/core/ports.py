"""A user's own model object (a library's Sequential or functional model) read into the contract: a ModelSpec, the
canonical parameters and every setting read from the objects.

Each framework package reads its objects into a list of neutral `Layer`s (the `reader` module its plug-in names);
`assemble` turns that list into a `PortedModel`, refusing with the layer named anything it cannot map. The shape
it accepts is the MLP of harness.core.specs: Dense → (BatchNorm) → activation → (Dropout) per hidden layer, then a
linear Dense that gives the logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from harness.core.errors import PortError
from harness.core.specs import ACTIVATIONS, BatchNormSpec, InitSpec, ModelSpec, OptimizerSpec

LAYER_KINDS = ("dense", "batch_norm", "activation", "dropout")


@dataclass(frozen=True)
class Layer:
    """One layer read from a user's model.

    dense: arrays W (fan_in, fan_out) and b (fan_out,) or no b. batch_norm: arrays gamma, beta, running_mean,
    running_var; settings eps, momentum (the Keras meaning, harness.core.specs.BatchNormSpec), running_var.
    activation: settings name (one of harness.core.specs.ACTIVATIONS) and alpha for leaky_relu. dropout: settings
    rate. `where` names it for messages, e.g. "layer 3 (BatchNorm1d)".
    """

    kind: str
    where: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PortedModel:
    """A user's model as fwcompare sees it. settings: every convention read from the objects, by name (bn.eps,
    bn.momentum, bn.running_var, activation, leaky_relu_alpha, dropout, init: an InitSpec, or a str naming an
    initialiser that has none); notes: what reading changed in form
    but not in arithmetic (a bias before batch norm folded into its running mean)."""

    framework: str
    model_spec: ModelSpec
    params: dict[str, np.ndarray]
    settings: dict[str, Any]
    notes: tuple[str, ...] = ()
    optimizer: OptimizerSpec | None = None
    """The user's optimiser, when they gave one; its settings are in `settings` as optimizer.<field>."""

    def with_optimizer(self, optimizer: OptimizerSpec) -> PortedModel:
        """This model trained by `optimizer` (read from the user's optimiser object)."""
        return replace(self, optimizer=optimizer, settings={**self.settings, **optimizer_settings(optimizer)})


# The OptimizerSpec fields each update rule reads (harness.core.specs); others are not settings of that optimiser.
OPTIMIZER_FIELDS = {
    "sgd": ("lr",),
    "momentum": ("lr", "momentum"),
    "nesterov": ("lr", "momentum"),
    "adagrad": ("lr", "eps", "initial_accumulator", "form"),
    "rmsprop": ("lr", "rho", "eps", "form"),
    "adam": ("lr", "beta1", "beta2", "eps", "form"),
}


def optimizer_settings(optimizer: OptimizerSpec) -> dict[str, Any]:
    """optimizer.<field> for the name and each field its update rule reads (form: momentum's velocity form makes no
    difference under a constant learning rate, so it is left out for momentum and Nesterov)."""
    names = ("name", *OPTIMIZER_FIELDS[optimizer.name])
    return {f"optimizer.{name}": getattr(optimizer, name) for name in names}


def with_optimizer_setting(optimizer: OptimizerSpec, name: str, value: Any) -> OptimizerSpec:
    """`optimizer` with one optimizer.<field> setting changed."""
    field_name = name.removeprefix("optimizer.")
    if field_name not in {f.name for f in fields(OptimizerSpec)}:
        raise PortError(f"{name} is not an optimiser setting")
    return replace(optimizer, **{field_name: value})


def assemble(framework: str, layers: list[Layer], init: InitSpec | str) -> PortedModel:
    """The PortedModel of `layers` (in order); raises PortError naming the first layer that does not fit. init: the
    initialiser the layers were made with, or a description of one that has no InitSpec."""
    blocks: list[list[Layer]] = []
    for layer in layers:
        if layer.kind not in LAYER_KINDS:
            raise PortError(f"{framework} model: {layer.where} has no counterpart in fwcompare's MLP")
        if layer.kind == "dense":
            blocks.append([layer])
        elif not blocks:
            raise PortError(f"{framework} model: {layer.where} comes before the first Dense/Linear layer")
        else:
            blocks[-1].append(layer)
    if len(blocks) < 1:
        raise PortError(f"{framework} model has no Dense/Linear layer")
    *hidden, output = blocks
    if len(output) > 1:
        raise PortError(
            f"{framework} model: {output[1].where} follows the last Dense/Linear layer; end with a linear layer "
            "that gives the logits (fwcompare applies the softmax inside the loss)"
        )
    params: dict[str, np.ndarray] = {}
    activations, dropout, bn_settings, notes = [], [], [], []
    for i, block in enumerate(hidden):
        kinds = [layer.kind for layer in block]
        allowed = (["dense", "activation"], ["dense", "batch_norm", "activation"])
        core = [k for k in kinds if k != "dropout"]
        if core not in [list(a) for a in allowed] or ("dropout" in kinds and kinds[-1] != "dropout"):
            raise PortError(
                f"{framework} model: hidden block {i} is {' → '.join(f'{layer.where}' for layer in block)}; "
                "fwcompare's MLP has Dense → (BatchNorm) → activation → (Dropout)"
            )
        by_kind = {layer.kind: layer for layer in block}
        dense = by_kind["dense"]
        params[f"dense{i}.W"] = dense.arrays["W"]
        bias = dense.arrays.get("b")
        if "batch_norm" in by_kind:
            bn = by_kind["batch_norm"]
            for name in ("gamma", "beta", "running_mean", "running_var"):
                params[f"bn{i}.{name}"] = bn.arrays[name]
            if bias is not None:
                # BN subtracts the batch mean, so the bias only shifts the running mean: fold it in (exact).
                params[f"bn{i}.running_mean"] = bn.arrays["running_mean"] - bias
                notes.append(f"{dense.where}: its bias is folded into bn{i}.running_mean (the same arithmetic)")
            bn_settings.append((bn.where, bn.settings))
        elif bias is not None:
            params[f"dense{i}.b"] = bias
        else:
            raise PortError(f"{framework} model: {dense.where} has no bias; fwcompare's Dense layers have one")
        activation = by_kind["activation"]
        if activation.settings["name"] not in ACTIVATIONS:
            raise PortError(
                f"{framework} model: {activation.where} is activation {activation.settings['name']!r}, which has no "
                f"counterpart; fwcompare's hidden layers use one of {', '.join(ACTIVATIONS)}"
            )
        activations.append((activation.where, activation.settings))
        dropout.append(by_kind["dropout"].settings["rate"] if "dropout" in by_kind else 0.0)
    last = len(hidden)
    params[f"dense{last}.W"] = output[0].arrays["W"]
    if output[0].arrays.get("b") is None:
        raise PortError(f"{framework} model: {output[0].where} has no bias; fwcompare's output layer has one")
    params[f"dense{last}.b"] = output[0].arrays["b"]

    # Without a hidden layer no activation is applied: "linear" says so.
    activation_settings = _one_setting(framework, "activation", activations) if activations else {"name": "linear"}
    name = activation_settings["name"]
    settings: dict[str, Any] = {"activation": name, "dropout": tuple(dropout), "init": init}
    if name == "leaky_relu":
        settings["leaky_relu_alpha"] = activation_settings["alpha"]
    batch_norm = None
    if bn_settings:
        if len(bn_settings) != len(hidden):
            raise PortError(f"{framework} model: batch norm in some hidden blocks only; put it in all or none")
        shared = _one_setting(framework, "batch norm settings", bn_settings)
        batch_norm = BatchNormSpec(momentum=shared["momentum"], eps=shared["eps"], running_var=shared["running_var"])
        settings.update({f"bn.{key}": shared[key] for key in ("eps", "momentum", "running_var")})
    sizes = [params[f"dense{i}.W"].shape for i in range(last + 1)]
    spec = ModelSpec(
        input_size=sizes[0][0],
        hidden_sizes=tuple(shape[1] for shape in sizes[:-1]),
        output_size=sizes[-1][1],
        activation=name,
        leaky_relu_alpha=settings.get("leaky_relu_alpha", 0.01),
        dropout=tuple(dropout) if any(dropout) else (),
        batch_norm=batch_norm,
    )
    return PortedModel(framework, spec, params, settings, tuple(notes))


def _one_setting(framework: str, what: str, found: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The settings every hidden layer shares; PortError naming the first layer that differs."""
    first_where, first = found[0]
    for where, settings in found[1:]:
        if settings != first:
            raise PortError(
                f"{framework} model: {where} has {what} {settings}, {first_where} has {first}; fwcompare's MLP uses "
                "one for every hidden layer"
            )
    return first
