"""Read a user's torch.nn.Sequential MLP into fwcompare's contract (harness.core.ports), and run it as it is."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from harness.core.errors import PortError
from harness.core.ports import Layer, PortedModel, assemble
from harness.core.specs import InitSpec, OptimizerSpec
from torch_impl.plugin import PLUGIN

# Softmax is read so that harness.core.ports can say where it belongs (inside the loss, not after the last layer).
_ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Identity: "linear",
    nn.Softmax: "softmax",
    nn.LogSoftmax: "log_softmax",
}
# nn.Linear's own initialiser; weights re-initialised by hand (nn.init) cannot be told apart from the weights alone.
INIT = InitSpec("fan_in_uniform", bias="like_weights")


def _array(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().copy()


def read_model(model: nn.Module) -> PortedModel:
    """The PortedModel of an nn.Sequential of Linear, BatchNorm1d, ReLU/Tanh/Sigmoid/LeakyReLU and Dropout (a
    leading Flatten is allowed); PortError names the first module that has no counterpart."""
    if not isinstance(model, nn.Sequential):
        raise PortError(f"torch model is a {type(model).__name__}; give an nn.Sequential of the supported layers")
    layers = []
    for index, module in enumerate(model):
        where = f"layer {index} ({type(module).__name__})"
        if isinstance(module, nn.Flatten) and index == 0:
            continue
        if isinstance(module, nn.Linear):
            arrays = {"W": _array(module.weight).T.copy()}
            if module.bias is not None:
                arrays["b"] = _array(module.bias)
            layers.append(Layer("dense", where, arrays))
        elif isinstance(module, nn.BatchNorm1d):
            if not (module.affine and module.track_running_stats) or module.momentum is None:
                raise PortError(
                    f"torch model: {where} needs affine=True, track_running_stats=True and a numeric momentum "
                    "(a cumulative average has no Keras counterpart)"
                )
            arrays = {
                "gamma": _array(module.weight),
                "beta": _array(module.bias),
                "running_mean": _array(module.running_mean),
                "running_var": _array(module.running_var),
            }
            # torch's momentum is the new batch's weight; BatchNormSpec.momentum is the old average's (Keras').
            settings = {"eps": float(module.eps), "momentum": 1.0 - float(module.momentum), "running_var": "unbiased"}
            layers.append(Layer("batch_norm", where, arrays, settings))
        elif isinstance(module, nn.LeakyReLU):
            layers.append(Layer("activation", where, settings={"name": "leaky_relu", "alpha": module.negative_slope}))
        elif type(module) in _ACTIVATIONS:
            layers.append(Layer("activation", where, settings={"name": _ACTIVATIONS[type(module)]}))
        elif isinstance(module, nn.Dropout):
            layers.append(Layer("dropout", where, settings={"rate": float(module.p)}))
        else:
            raise PortError(f"torch model: {where} has no counterpart in fwcompare's MLP")
    return assemble("torch", layers, INIT)


def inference_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's own inference-mode output for x (n, input_size), in its parameters' dtype; its mode is restored."""
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _array(model(torch.as_tensor(x, dtype=parameter.dtype, device=parameter.device)))
    finally:
        model.train(was_training)


def default_settings() -> dict[str, object]:
    """The settings of harness.core.ports.PortedModel that torch gives a layer nobody configured, read from freshly
    made default layers."""
    bn = nn.BatchNorm1d(1)
    return {
        "bn.eps": float(bn.eps),
        "bn.momentum": 1.0 - float(bn.momentum),
        "bn.running_var": "unbiased",
        "init": INIT,
    }


_OPTIMIZERS = {
    torch.optim.SGD: "sgd",
    torch.optim.Adam: "adam",
    torch.optim.RMSprop: "rmsprop",
    torch.optim.Adagrad: "adagrad",
}


def read_optimizer(optimizer: torch.optim.Optimizer) -> OptimizerSpec:
    """The OptimizerSpec of a torch.optim SGD, Adam, RMSprop or Adagrad (one parameter group's settings, torch's
    forms as its plug-in names them); PortError names a setting that has no counterpart."""
    name = _OPTIMIZERS.get(type(optimizer))
    if name is None:
        raise PortError(
            f"torch optimiser {type(optimizer).__name__} has no counterpart; use SGD, Adam, RMSprop or Adagrad"
        )
    group = optimizer.param_groups[0]
    unsupported = {
        key: group[key]
        for key in ("weight_decay", "dampening", "lr_decay", "amsgrad", "centered", "maximize")
        if group.get(key)
    }
    if name == "rmsprop" and group["momentum"]:
        unsupported["momentum"] = group["momentum"]
    if unsupported:
        raise PortError(f"torch {type(optimizer).__name__}: {unsupported} has no counterpart in fwcompare's optimisers")
    if name == "sgd":
        if group["momentum"]:
            name = "nesterov" if group["nesterov"] else "momentum"
        return OptimizerSpec(
            name, lr=float(group["lr"]), momentum=float(group["momentum"]), form=PLUGIN.optimizer_forms[name]
        )
    if name == "adam":
        beta1, beta2 = group["betas"]
        return OptimizerSpec(
            "adam", lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"], form=PLUGIN.optimizer_forms[name]
        )
    if name == "rmsprop":
        return OptimizerSpec(
            "rmsprop", lr=float(group["lr"]), rho=group["alpha"], eps=group["eps"], form=PLUGIN.optimizer_forms[name]
        )
    return OptimizerSpec(
        "adagrad",
        lr=float(group["lr"]),
        eps=group["eps"],
        initial_accumulator=float(group["initial_accumulator_value"]),
        form=PLUGIN.optimizer_forms[name],
    )


def default_optimizer(name: str) -> OptimizerSpec:
    """The OptimizerSpec torch's optimiser for update rule `name` has when nobody sets anything but momentum."""
    cls = {"sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "nesterov": torch.optim.SGD, "adam": torch.optim.Adam}
    cls |= {"rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}
    extra = {"momentum": 0.9} if name in ("momentum", "nesterov") else {}
    if name == "nesterov":
        extra["nesterov"] = True
    return read_optimizer(cls[name]([torch.zeros(1, requires_grad=True)], **extra))
