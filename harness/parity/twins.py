"""Rounding twins: the reference retrained on a parity case's batches in ways that change its rounding and nothing
else, so that their distance from the reference shows how far rounding alone moves each after-steps tensor
(harness.parity.case.ParityCase.rounding_sensitivity).

Each twin changes one thing:
    rows     each training batch's rows in another order (reversed; rotated by half a batch). Every loss and BN
             statistic is a mean over rows, so only the order of the sums over the batch changes: the weight
             gradients' GEMMs and the batch reductions.
    units    every layer's units in another order (reversed; rotated by half a layer): the input features and each
             hidden layer's units, with the parameters, dropout masks and traced tensors permuted to match and back;
             the output units stay, since the labels name them. The network is the same function of permuted units,
             so only the order of the sums over units changes: every forward GEMM and the backward GEMMs over
             units, which a row order leaves as they were. Another library's GEMM blocks these sums differently
             (docs/parity-rounding.md: the JAX case that only these twins explain).
    nudged   every training input moved by one unit in the last place: a change of exactly one rounding's size that
             reaches every product, as another library's element-wise kernels do.

Tensor names (harness.parity.traces): a key with a dot is a parameter or optimiser slot of layer i ('dense{i}.W'
(fan_in, fan_out); 'dense{i}.b', 'bn{i}.gamma', ... (width,); slots 'key/slot'); a key without one is an output of
layer i ('dense{i}', 'bn{i}', 'act{i}', 'dropout{i}': (n, width), dropout masks alike); anything else ('logits',
losses) does not depend on the order of hidden units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.core.interface import Params
from harness.core.specs import ModelSpec
from harness.parity.inputs import ParityBatches
from harness.parity.traces import Trace

UnitOrders = tuple[np.ndarray, ...]
"""One index order per entry of ModelSpec.layer_sizes: the inputs, each hidden layer, the outputs (identity)."""

_PARAMETER = re.compile(r"(?:dense|bn)(?P<layer>\d+)\.(?P<field>\w+)(?:/\w+)?")  # 'dense1.W', 'bn0.gamma/m'
_OUTPUT = re.compile(r"(?:dense|bn|act|dropout)(?P<layer>\d+)")  # 'act0', masks' 'dropout1'


def _reversed(n: int) -> np.ndarray:
    return np.arange(n)[::-1]


def _rotated(n: int) -> np.ndarray:
    return np.roll(np.arange(n), n // 2)


ORDERS: tuple[Callable[[int], np.ndarray], ...] = (_reversed, _rotated)
"""The other orders each twin kind takes, of n rows or units."""


def unit_orders(spec: ModelSpec, order: Callable[[int], np.ndarray]) -> UnitOrders:
    """`order(width)` for the inputs and every hidden layer of `spec`, the identity for the outputs."""
    sizes = spec.layer_sizes
    return (*(order(n) for n in sizes[:-1]), np.arange(sizes[-1]))


def reorder_units(tensors: dict[str, np.ndarray], orders: UnitOrders) -> dict[str, np.ndarray]:
    """Every tensor of `tensors` with its unit axes taken in `orders` (module docstring for the names); tensors
    that are not a layer's keep their order."""
    reordered = {}
    for name, tensor in tensors.items():
        if parameter := _PARAMETER.fullmatch(name):
            layer = int(parameter["layer"])
            units = orders[layer + 1]
            reordered[name] = tensor[orders[layer]][:, units] if parameter["field"] == "W" else tensor[units]
        elif output := _OUTPUT.fullmatch(name):
            reordered[name] = tensor[:, orders[int(output["layer"]) + 1]]
        else:
            reordered[name] = tensor
    return reordered


def inverse(orders: UnitOrders) -> UnitOrders:
    """The orders that put reordered units back."""
    return tuple(np.argsort(order) for order in orders)


@dataclass(frozen=True)
class Twin:
    """The batches one twin trains on, and the unit orders its model runs in (None: the case's own)."""

    kind: str
    batches: ParityBatches
    units: UnitOrders | None = None

    def params(self, params: Params) -> Params:
        """The case's initial parameters in this twin's unit orders."""
        return params if self.units is None else reorder_units(params, self.units)

    def restore(self, trace: Trace) -> Trace:
        """A trace of this twin's model with every tensor back in the case's unit orders."""
        if self.units is None:
            return trace
        back = inverse(self.units)
        return {check: reorder_units(tensors, back) for check, tensors in trace.items()}


def rounding_twins(batches: ParityBatches, spec: ModelSpec, steps: int, seed: int) -> list[Twin]:
    """The twins of a case (module docstring): two row orders, two unit orders and the nudged inputs."""
    twins = [Twin("rows", batches.with_training_rows_permuted(steps, order(batches.batch_size))) for order in ORDERS]
    for order in ORDERS:
        units = unit_orders(spec, order)
        masks = None if batches.masks is None else reorder_units(batches.masks, units)
        twins.append(Twin("units", ParityBatches(batches.x[:, :, units[0]], batches.y, masks), units))
    twins.append(Twin("nudged", batches.with_training_inputs_nudged(steps, seed)))
    return twins
