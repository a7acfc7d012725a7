"""Read a user's Keras Sequential or functional MLP into fwcompare's contract (harness.core.ports), and run it as it
is."""

from __future__ import annotations

import keras
import numpy as np

from harness.core.errors import PortError
from harness.core.ports import Layer, PortedModel, assemble
from harness.core.specs import InitSpec, OptimizerSpec
from keras_impl.plugin import PLUGIN

# Keras' initialisers with an InitSpec counterpart (its normal ones truncate at ±2σ, keeping the variance).
_KERNEL_INITS = {
    keras.initializers.GlorotUniform: InitSpec("glorot_uniform"),
    keras.initializers.GlorotNormal: InitSpec("glorot_normal", truncated=True),
    keras.initializers.HeUniform: InitSpec("he_uniform"),
    keras.initializers.HeNormal: InitSpec("he_normal", truncated=True),
    keras.initializers.LecunNormal: InitSpec("lecun_normal", truncated=True),
}


def _activation_name(function) -> str:
    return keras.activations.serialize(function) if not isinstance(function, str) else function


def _chain(model: keras.Model) -> list:
    """The layers of a Sequential, or of a functional Model that is a plain chain from its one input to its one
    output, in order; PortError names the layer where a functional model branches or merges."""
    if isinstance(model, keras.Sequential):
        return list(model.layers)
    if not isinstance(model, keras.Model) or getattr(model, "outputs", None) is None:
        raise PortError(
            f"Keras model is a {type(model).__name__}; give a keras.Sequential or a functional keras.Model "
            "(keras.Input → layers → keras.Model) of the supported layers"
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise PortError(
            f"Keras model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; fwcompare's MLP has one "
            "of each"
        )
    chain: list = []
    tensor = model.outputs[0]
    while True:
        # Keras records on each symbolic tensor the layer call (node) that made it.
        layer, node_index, _ = tensor._keras_history
        if isinstance(layer, keras.layers.InputLayer):
            return chain[::-1]
        inputs = layer._inbound_nodes[node_index].input_tensors
        if len(inputs) != 1 or layer in chain:
            how = f"takes {len(inputs)} inputs (branches merge there)" if len(inputs) != 1 else "is called twice"
            raise PortError(
                f"Keras model: layer {layer.name!r} ({type(layer).__name__}) {how}; fwcompare's MLP is a plain "
                "chain of layers"
            )
        chain.append(layer)
        tensor = inputs[0]


def read_model(model: keras.Model) -> PortedModel:
    """The PortedModel of a Sequential, or a functional Model that is a plain chain, of Dense (with or without an
    activation), BatchNormalization, Activation, ReLU/LeakyReLU and Dropout layers (InputLayer and a leading Flatten
    are allowed); PortError names the first layer that has no counterpart."""
    layers, inits = [], set()
    for index, layer in enumerate(_chain(model)):
        where = f"layer {index} ({type(layer).__name__} {layer.name!r})"
        if isinstance(layer, keras.layers.InputLayer) or (isinstance(layer, keras.layers.Flatten) and index == 0):
            continue
        if isinstance(layer, keras.layers.Dense):
            arrays = {"W": np.array(layer.kernel.numpy())}
            if layer.use_bias:
                arrays["b"] = np.array(layer.bias.numpy())
            layers.append(Layer("dense", where, arrays))
            inits.add((type(layer.kernel_initializer), type(layer.bias_initializer) if layer.use_bias else None))
            name = _activation_name(layer.activation)
            if name != "linear":
                layers.append(_activation(name, where))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not (layer.center and layer.scale):
                raise PortError(f"Keras model: {where} needs center=True and scale=True")
            arrays = {
                "gamma": np.array(layer.gamma.numpy()),
                "beta": np.array(layer.beta.numpy()),
                "running_mean": np.array(layer.moving_mean.numpy()),
                "running_var": np.array(layer.moving_variance.numpy()),
            }
            settings = {"eps": float(layer.epsilon), "momentum": float(layer.momentum), "running_var": "biased"}
            layers.append(Layer("batch_norm", where, arrays, settings))
        elif isinstance(layer, keras.layers.Activation):
            layers.append(_activation(_activation_name(layer.activation), where))
        elif isinstance(layer, keras.layers.LeakyReLU):
            layers.append(
                Layer("activation", where, settings={"name": "leaky_relu", "alpha": float(layer.negative_slope)})
            )
        elif isinstance(layer, keras.layers.ReLU) and layer.max_value is None and not layer.negative_slope:
            layers.append(Layer("activation", where, settings={"name": "relu"}))
        elif isinstance(layer, keras.layers.Dropout):
            layers.append(Layer("dropout", where, settings={"rate": float(layer.rate)}))
        else:
            raise PortError(f"Keras model: {where} has no counterpart in fwcompare's MLP")
    return assemble("keras", layers, _init(inits))


def _init(inits: set[tuple[type, type | None]]) -> InitSpec | str:
    """The InitSpec of the Dense layers' (kernel, bias) initialisers, or a description when they differ between
    layers or have no counterpart."""
    if len(inits) == 1:
        kernel, bias = next(iter(inits))
        if kernel in _KERNEL_INITS and bias in (keras.initializers.Zeros, None):
            return _KERNEL_INITS[kernel]
    names = sorted(f"{kernel.__name__}/{bias.__name__ if bias else 'no bias'}" for kernel, bias in inits)
    return f"as given (Dense kernel/bias initialisers {', '.join(names)}: no counterpart measured)"


def _activation(name: str, where: str) -> Layer:
    """An activation by its Keras name; harness.core.ports refuses the names fwcompare has no counterpart for."""
    return Layer("activation", where, settings={"name": name})


def inference_logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's own inference-mode output for x (n, input_size), in its weights' dtype."""
    dtype = model.layers[-1].kernel.dtype
    return np.array(model(np.asarray(x, dtype=dtype), training=False))


def default_settings() -> dict[str, object]:
    """The settings of harness.core.ports.PortedModel that Keras gives a layer nobody configured, read from freshly
    made default layers."""
    bn = keras.layers.BatchNormalization()
    dense = keras.layers.Dense(1)
    return {
        "bn.eps": float(bn.epsilon),
        "bn.momentum": float(bn.momentum),
        "bn.running_var": "biased",
        "init": _init({(type(dense.kernel_initializer), type(dense.bias_initializer))}),
    }


_OPTIMIZERS = {
    keras.optimizers.SGD: "sgd",
    keras.optimizers.Adam: "adam",
    keras.optimizers.RMSprop: "rmsprop",
    keras.optimizers.Adagrad: "adagrad",
}


def _number(value) -> float:
    """A hyperparameter as the user wrote it: Keras keeps the learning rate as a float32 variable (0.01 reads back
    as 0.009999999776482582), so the float32's shortest decimal is taken."""
    return float(str(np.float32(value)))


def read_optimizer(optimizer: keras.optimizers.Optimizer) -> OptimizerSpec:
    """The OptimizerSpec of a Keras SGD, Adam, RMSprop or Adagrad (Keras' forms, as its plug-in names them);
    PortError names a setting that has no counterpart."""
    name = _OPTIMIZERS.get(type(optimizer))
    if name is None:
        raise PortError(
            f"Keras optimiser {type(optimizer).__name__} has no counterpart; use SGD, Adam, RMSprop or Adagrad"
        )
    config = optimizer.get_config()
    unsupported = {
        key: config[key]
        for key in ("weight_decay", "clipnorm", "global_clipnorm", "clipvalue", "use_ema", "amsgrad", "centered")
        if config.get(key)
    }
    if name == "rmsprop" and config["momentum"]:
        unsupported["momentum"] = config["momentum"]
    if unsupported:
        raise PortError(f"Keras {type(optimizer).__name__}: {unsupported} has no counterpart in fwcompare's optimisers")
    lr = _number(config["learning_rate"])
    if name == "sgd":
        if config["momentum"]:
            name = "nesterov" if config["nesterov"] else "momentum"
        return OptimizerSpec(name, lr=lr, momentum=_number(config["momentum"]), form=PLUGIN.optimizer_forms[name])
    if name == "adam":
        beta1, beta2, eps = config["beta_1"], config["beta_2"], config["epsilon"]
        return OptimizerSpec("adam", lr=lr, beta1=beta1, beta2=beta2, eps=eps, form=PLUGIN.optimizer_forms[name])
    if name == "rmsprop":
        return OptimizerSpec(
            "rmsprop", lr=lr, rho=config["rho"], eps=config["epsilon"], form=PLUGIN.optimizer_forms[name]
        )
    return OptimizerSpec(
        "adagrad",
        lr=lr,
        eps=config["epsilon"],
        initial_accumulator=float(config["initial_accumulator_value"]),
        form=PLUGIN.optimizer_forms[name],
    )


def default_optimizer(name: str) -> OptimizerSpec:
    """The OptimizerSpec Keras' optimiser for update rule `name` has when nobody sets anything but momentum."""
    cls = {"sgd": keras.optimizers.SGD, "momentum": keras.optimizers.SGD, "nesterov": keras.optimizers.SGD}
    cls |= {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "adagrad": keras.optimizers.Adagrad}
    extra = {"momentum": 0.9} if name in ("momentum", "nesterov") else {}
    if name == "nesterov":
        extra["nesterov"] = True
    return read_optimizer(cls[name](**extra))
