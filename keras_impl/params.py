"""The adapter between the canonical parameter dict (harness/core/params.py) and the Keras variables of the MLP.

Keras Dense keeps its kernel as (fan_in, fan_out), the canonical layout, so nothing is transposed. BN running
statistics are BatchNormalization's moving_mean / moving_variance (non-trainable variables).
"""

from __future__ import annotations

import keras
import numpy as np

from harness.core.interface import Params
from harness.core.params import check_params
from harness.core.specs import ModelSpec

# canonical BN name -> BatchNormalization attribute
BN_VARIABLES = {"gamma": "gamma", "beta": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


def canonical_variables(
    spec: ModelSpec, dense_layers: list[keras.layers.Dense], bn_layers: list[keras.layers.BatchNormalization]
) -> dict[str, keras.Variable]:
    """Every canonical key (harness.core.params.param_shapes order) with the Keras variable that holds it."""
    variables: dict[str, keras.Variable] = {}
    for i, dense in enumerate(dense_layers):
        variables[f"dense{i}.W"] = dense.kernel
        if dense.use_bias:
            variables[f"dense{i}.b"] = dense.bias
        if i < len(bn_layers):
            for name, attribute in BN_VARIABLES.items():
                variables[f"bn{i}.{name}"] = getattr(bn_layers[i], attribute)
    return variables


def load_params(spec: ModelSpec, variables: dict[str, keras.Variable], params: Params) -> None:
    """Copy `params` into `variables` (from canonical_variables), cast to each variable's dtype.

    Raises ParamMismatchError before copying anything if the keys or shapes differ from the spec's.
    """
    check_params(spec, params)
    for key, variable in variables.items():
        variable.assign(np.asarray(params[key], dtype=variable.dtype))


def export_params(variables: dict[str, keras.Variable]) -> Params:
    """A NumPy copy of every variable under its canonical key."""
    return {key: variable.numpy().copy() for key, variable in variables.items()}
