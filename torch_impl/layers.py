"""The torch network of a ModelSpec: nn.Linear and nn.BatchNorm1d layers, dropout from injected keep-masks.

Input → [Dense → (BN) → activation → (dropout)] per hidden layer → Dense → logits. Shapes: x, h (n, width);
masks {"dropout{i}": (n, hidden_sizes[i]) 0/1 tensors in the model dtype}.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional

from harness.core.batching import missing_masks_error
from harness.core.params import has_bias
from harness.core.specs import ModelSpec
from torch_impl.activations import activate

TensorDict = dict[str, torch.Tensor]


def dropout_train(h: torch.Tensor, mask: torch.Tensor, rate: float, style: str) -> torch.Tensor:
    """Training-mode dropout: h·(mask·(1/(1−p))) (inverted) or h·mask (keep_prob).

    The reciprocal is computed in Python double and multiplied into the mask first: the arithmetic torch's own
    dropout and Keras use, so every framework agrees bit for bit.
    """
    return h * (mask * (1.0 / (1.0 - rate))) if style == "inverted" else h * mask


def dropout_inference(h: torch.Tensor, rate: float, style: str) -> torch.Tensor:
    """Inference-mode dropout: identity (inverted) or h·(1 − p) (keep_prob: training did not rescale)."""
    return h if style == "inverted" else h * (1 - rate)


def batch_norm(bn: nn.BatchNorm1d, z: torch.Tensor, update_stats: bool) -> torch.Tensor:
    """BN of z (n, width) in bn's mode; a training-mode pass with update_stats=False normalises by the batch
    statistics without touching running_mean, running_var or num_batches_tracked."""
    if update_stats or not bn.training:
        return bn(z)
    return functional.batch_norm(z, None, None, bn.weight, bn.bias, training=True, momentum=0.0, eps=bn.eps)


class MLPNetwork(nn.Module):
    """The layers of `spec` in `dtype` on `device`; train()/eval() select the training or inference pass.

    dense[i] is nn.Linear (weight (fan_out, fan_in), the transpose of the canonical kernel); bn[i] is
    nn.BatchNorm1d with torch's momentum 1 − spec.momentum (spec.momentum has the Keras meaning) and spec.eps.
    Their initial values are placeholders: torch_impl.params loads the canonical dict over them.
    """

    def __init__(self, spec: ModelSpec, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.spec = spec
        self.dense = nn.ModuleList(
            nn.Linear(fan_in, fan_out, bias=has_bias(spec, i), dtype=dtype, device=device)
            for i, (fan_in, fan_out) in enumerate(itertools.pairwise(spec.layer_sizes))
        )
        bn_spec = spec.batch_norm
        self.bn = nn.ModuleList(
            ()
            if bn_spec is None
            else (
                nn.BatchNorm1d(width, eps=bn_spec.eps, momentum=1.0 - bn_spec.momentum, dtype=dtype, device=device)
                for width in spec.hidden_sizes
            )
        )

    def forward(
        self,
        x: torch.Tensor,
        masks: TensorDict | None = None,
        update_stats: bool = True,
        record: TensorDict | None = None,
    ) -> torch.Tensor:
        """Logits (n, output_size) of x (n, input_size).

        update_stats: whether a training-mode pass updates the BN running statistics. record: if given, filled
        with every layer's output under the activation keys of harness.core.interface (dense{i}, bn{i}, act{i},
        dropout{i}, logits).
        """
        spec = self.spec
        outputs = {} if record is None else record
        h = x
        for i in range(len(spec.hidden_sizes)):
            h = outputs[f"dense{i}"] = self.dense[i](h)
            if spec.batch_norm is not None:
                h = outputs[f"bn{i}"] = batch_norm(self.bn[i], h, update_stats)
            h = outputs[f"act{i}"] = activate(spec.activation, h, spec.leaky_relu_alpha)
            rate = spec.dropout_rate(i)
            if rate > 0:
                key = f"dropout{i}"
                if not self.training:
                    h = dropout_inference(h, rate, spec.dropout_style)
                elif masks is None or key not in masks:
                    raise missing_masks_error(key)
                else:
                    h = dropout_train(h, masks[key], rate, spec.dropout_style)
                outputs[key] = h
        logits = outputs["logits"] = self.dense[-1](h)
        return logits

    def kernels(self) -> list[torch.Tensor]:
        """The Dense weights, the tensors the L2 term covers."""
        return [layer.weight for layer in self.dense]
