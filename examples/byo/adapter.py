"""The adapter that lets fwcompare check and train `scratch_mlp.ScratchMLP` (harness/byo/adapter.py describes the
protocol). It translates between fwcompare's canonical parameters (dense{i}.W is (in, out)) and the network's
(out, in) matrices, and between fwcompare's specs and the network's own arguments:

    fwcompare parity --impl examples/byo/adapter.py:ScratchAdapter --variants relu-he-sgd,relu-he-adam
    fwcompare run --impl examples/byo/adapter.py:ScratchAdapter --dataset digits --frameworks numpy --epochs 2
"""

from __future__ import annotations

import numpy as np
from scratch_mlp import Optimizer as ScratchOptimizer
from scratch_mlp import ScratchMLP


class ScratchAdapter:
    name = "scratch"
    optimizer_form = "torch"  # momentum, Nesterov, AdaGrad, RMSProp and Adam follow PyTorch's update rules
    bn_running_var = "unbiased"

    @staticmethod
    def unsupported(model_spec, train_spec):
        """Why ScratchMLP cannot run these specs, or None."""
        if model_spec.activation not in ("relu", "tanh", "sigmoid"):
            return f"activation {model_spec.activation!r} (ScratchMLP has relu, tanh, sigmoid)"
        if model_spec.loss != "softmax_ce" or model_spec.eval_loss != "training":
            return f"loss {model_spec.loss!r} (ScratchMLP has softmax cross-entropy only)"
        if model_spec.has_dropout and model_spec.dropout_style != "inverted":
            return "keep_prob dropout (ScratchMLP has inverted dropout only)"
        if model_spec.batch_norm is not None and model_spec.batch_norm.running_var != "unbiased":
            return "a biased BN running variance (ScratchMLP keeps the unbiased one)"
        return None

    def __init__(self, model_spec, train_spec, params):
        bn = model_spec.batch_norm
        self.hidden = len(model_spec.hidden_sizes)
        self.net = ScratchMLP(
            model_spec.layer_sizes,
            activation=model_spec.activation,
            dropout=model_spec.dropout,
            batch_norm=bn is not None,
            bn_new_weight=1 - bn.momentum if bn else 0.1,  # fwcompare's momentum is the weight of the old average
            bn_eps=bn.eps if bn else 1e-5,
            l2=model_spec.l2,
            dtype=np.dtype(train_spec.dtype),
        )
        spec = train_spec.optimizer
        self.optimizer = ScratchOptimizer(
            spec.name, spec.momentum, spec.beta1, spec.beta2, spec.rho, spec.eps, spec.initial_accumulator
        )
        self.set_params(params)

    def set_params(self, params):
        net = self.net
        for i in range(self.hidden + 1):
            net.W[i][...] = params[f"dense{i}.W"].T
            if net.b[i] is not None:
                net.b[i][...] = params[f"dense{i}.b"]
        for i in range(len(net.gamma)):
            net.gamma[i][...] = params[f"bn{i}.gamma"]
            net.beta[i][...] = params[f"bn{i}.beta"]
            net.run_mean[i][...] = params[f"bn{i}.running_mean"]
            net.run_var[i][...] = params[f"bn{i}.running_var"]

    def _keep(self, dropout_masks):
        if dropout_masks is None:
            return None
        return [dropout_masks.get(f"dropout{i}") for i in range(self.hidden)]

    def forward(self, x, training, dropout_masks):
        return self.net.forward(x, train=training, keep=self._keep(dropout_masks))[0]

    def _canonical(self, grads):
        out = {}
        for i in range(self.hidden + 1):
            out[f"dense{i}.W"] = grads["W"][i].T
            if grads["b"][i] is not None:
                out[f"dense{i}.b"] = grads["b"][i]
            if i < len(self.net.gamma):
                out[f"bn{i}.gamma"], out[f"bn{i}.beta"] = grads["gamma"][i], grads["beta"][i]
        return out

    def _loss_grads_cache(self, x, y, dropout_masks):
        logits, cache = self.net.forward(x, train=True, keep=self._keep(dropout_masks))
        loss, dlogits = self.net.loss(logits, y)
        return loss, self.net.backward(cache, dlogits), cache

    def loss_and_grads(self, x, y, dropout_masks):
        loss, grads, _ = self._loss_grads_cache(x, y, dropout_masks)
        return loss, self._canonical(grads)

    def train_step(self, x, y, dropout_masks, lr):
        loss, grads, cache = self._loss_grads_cache(x, y, dropout_masks)
        if self.net.batch_norm:
            self.net.update_running_stats(cache, len(x))
        params = [p for _, p in self.net.parameters()]
        self.optimizer.step(params, self.net.gradient_list(grads), lr)
        return loss

    def get_params(self):
        net = self.net
        out = {}
        for i in range(self.hidden + 1):
            out[f"dense{i}.W"] = net.W[i].T.copy()
            if net.b[i] is not None:
                out[f"dense{i}.b"] = net.b[i].copy()
            if i < len(net.gamma):
                out[f"bn{i}.gamma"], out[f"bn{i}.beta"] = net.gamma[i].copy(), net.beta[i].copy()
                out[f"bn{i}.running_mean"], out[f"bn{i}.running_var"] = net.run_mean[i].copy(), net.run_var[i].copy()
        return out
