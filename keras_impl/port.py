"""Read a user's Keras Sequential MLP into fwcompare's contract (harness.core.ports), and run it as it is."""

from __future__ import annotations

import keras
import numpy as np

from harness.core.errors import PortError
from harness.core.ports import Layer, PortedModel, assemble
from harness.core.specs import OptimizerSpec
from keras_impl.plugin import PLUGIN


def _activation_name(function) -> str:
    return keras.activations.serialize(function) if not isinstance(function, str) else function


def read_model(model: keras.Model) -> PortedModel:
    """The PortedModel of a Sequential of Dense (with or without an activation), BatchNormalization, Activation,
    ReLU/LeakyReLU and Dropout layers (InputLayer and a leading Flatten are allowed); PortError names the first
    layer that has no counterpart."""
    if not isinstance(model, keras.Sequential):
        raise PortError(f"Keras model is a {type(model).__name__}; give a keras.Sequential of the supported layers")
    layers, inits = [], set()
    for index, layer in enumerate(model.layers):
        where = f"layer {index} ({type(layer).__name__} {layer.name!r})"
        if isinstance(layer, keras.layers.InputLayer) or (isinstance(layer, keras.layers.Flatten) and index == 0):
            continue
        if isinstance(layer, keras.layers.Dense):
            arrays = {"W": np.array(layer.kernel.numpy())}
            if layer.use_bias:
                arrays["b"] = np.array(layer.bias.numpy())
            layers.append(Layer("dense", where, arrays))
            inits.add(type(layer.kernel_initializer).__name__)
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
    return assemble("keras", layers, f"as given (Dense kernel_initializer {', '.join(sorted(inits))})")


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
    init = type(keras.layers.Dense(1).kernel_initializer).__name__
    return {
        "bn.eps": float(bn.epsilon),
        "bn.momentum": float(bn.momentum),
        "bn.running_var": "biased",
        "init": f"as given (Dense kernel_initializer {init})",
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
