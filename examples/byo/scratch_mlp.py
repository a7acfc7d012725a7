"""A small multilayer perceptron written from scratch in NumPy, the way a learner writes one: weights stored as
(out, in) matrices, a forward pass that keeps what backpropagation needs, hand-derived gradients and a few
optimisers. It knows nothing about fwcompare; `adapter.py` next to it connects the two.

Supported: ReLU, tanh and sigmoid hidden layers; inverted dropout; batch normalisation before the activation
(running variance from the unbiased batch variance); L2 on the weight matrices; softmax cross-entropy; SGD,
momentum, Nesterov, AdaGrad, RMSProp and Adam (each in the form PyTorch uses).
"""

from __future__ import annotations

import numpy as np


def relu(z):
    return np.maximum(z, 0)


def relu_slope(z, a):
    return (z > 0).astype(z.dtype)


def tanh_slope(z, a):
    return 1 - a * a


def sigmoid(z):
    # Two branches, so exp never sees a large positive argument.
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1 / (1 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    out[~positive] = e / (1 + e)
    return out


def sigmoid_slope(z, a):
    return a * (1 - a)


ACTIVATIONS = {"relu": (relu, relu_slope), "tanh": (np.tanh, tanh_slope), "sigmoid": (sigmoid, sigmoid_slope)}


class ScratchMLP:
    """sizes = [inputs, hidden..., classes]. Layer i holds W[i] (sizes[i+1], sizes[i]) and b[i] (or None when
    batch normalisation follows it), and with batch normalisation gamma[i], beta[i], run_mean[i], run_var[i]."""

    def __init__(
        self,
        sizes,
        activation="relu",
        dropout=None,
        batch_norm=False,
        bn_new_weight=0.1,
        bn_eps=1e-5,
        l2=0.0,
        dtype=np.float64,
        seed=0,
    ):
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.hidden = len(sizes) - 2
        self.act, self.act_slope = ACTIVATIONS[activation]
        self.dropout = list(dropout) if dropout else [0.0] * self.hidden
        self.batch_norm = batch_norm
        self.bn_new_weight = bn_new_weight  # weight of the new batch in the running averages
        self.bn_eps = bn_eps
        self.l2 = l2
        self.dtype = dtype
        self.W, self.b = [], []
        for i in range(len(sizes) - 1):
            self.W.append((rng.standard_normal((sizes[i + 1], sizes[i])) * np.sqrt(2 / sizes[i])).astype(dtype))
            normalised = batch_norm and i < self.hidden
            self.b.append(None if normalised else np.zeros(sizes[i + 1], dtype))
        widths = sizes[1:-1] if batch_norm else []
        self.gamma = [np.ones(w, dtype) for w in widths]
        self.beta = [np.zeros(w, dtype) for w in widths]
        self.run_mean = [np.zeros(w, dtype) for w in widths]
        self.run_var = [np.ones(w, dtype) for w in widths]

    # --- forward -------------------------------------------------------------------------------------------------

    def forward(self, x, train=False, keep=None):
        """Logits (n, classes) and the cache for backward. keep: per hidden layer a 0/1 keep-mask (n, width) or
        None; in training, kept units are divided by the keep probability (inverted dropout)."""
        h = x.astype(self.dtype)
        cache = []
        for i in range(self.hidden):
            z = h @ self.W[i].T
            if self.b[i] is not None:
                z = z + self.b[i]
            layer = {"input": h}
            if self.batch_norm:
                if train:
                    mu = z.mean(axis=0)
                    var = ((z - mu) ** 2).mean(axis=0)
                else:
                    mu, var = self.run_mean[i], self.run_var[i]
                inv = 1 / np.sqrt(var + self.bn_eps)
                zhat = (z - mu) * inv
                layer.update(mu=mu, var=var, inv=inv, zhat=zhat)
                z = zhat * self.gamma[i] + self.beta[i]
            a = self.act(z)
            layer.update(z=z, a=a)
            if train and self.dropout[i] > 0:
                scale = keep[i].astype(self.dtype) * (1.0 / (1.0 - self.dropout[i]))
                a = a * scale
                layer["scale"] = scale
            cache.append(layer)
            h = a
        logits = h @ self.W[-1].T + self.b[-1]
        cache.append({"input": h})
        return logits, cache

    # --- loss and backward -----------------------------------------------------------------------------------------

    def loss(self, logits, labels):
        """Mean softmax cross-entropy plus l2·Σ‖W‖², and dLoss/dlogits (without the L2 part)."""
        n = len(labels)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        data_loss = -log_probs[np.arange(n), labels].mean()
        penalty = self.l2 * sum(float((W * W).sum()) for W in self.W)
        dlogits = np.exp(log_probs)
        dlogits[np.arange(n), labels] -= 1
        return float(data_loss) + penalty, dlogits / n

    def backward(self, cache, dlogits):
        """Gradients as {"W": [...], "b": [...], "gamma": [...], "beta": [...]}, layer by layer, L2 included."""
        L = self.hidden
        grads = {"W": [None] * (L + 1), "b": [None] * (L + 1), "gamma": [None] * L, "beta": [None] * L}
        grads["W"][L] = dlogits.T @ cache[L]["input"]
        grads["b"][L] = dlogits.sum(axis=0)
        delta = dlogits @ self.W[L]
        for i in reversed(range(L)):
            layer = cache[i]
            if "scale" in layer:
                delta = delta * layer["scale"]
            delta = delta * self.act_slope(layer["z"], layer["a"])
            if self.batch_norm:
                grads["gamma"][i] = (delta * layer["zhat"]).sum(axis=0)
                grads["beta"][i] = delta.sum(axis=0)
                d_zhat = delta * self.gamma[i]
                # d/dz of (z − mean)/sqrt(var + eps) with mean and var of the batch
                zhat = layer["zhat"]
                delta = layer["inv"] * (d_zhat - d_zhat.mean(axis=0) - zhat * (d_zhat * zhat).mean(axis=0))
            grads["W"][i] = delta.T @ layer["input"]
            if self.b[i] is not None:
                grads["b"][i] = delta.sum(axis=0)
            if i > 0:
                delta = delta @ self.W[i]
        for i in range(L + 1):
            grads["W"][i] = grads["W"][i] + 2 * self.l2 * self.W[i]
        return grads

    def update_running_stats(self, cache, n):
        for i in range(len(self.gamma)):
            unbiased = cache[i]["var"] * (n / (n - 1))
            w = self.bn_new_weight
            self.run_mean[i] = (1 - w) * self.run_mean[i] + w * cache[i]["mu"]
            self.run_var[i] = (1 - w) * self.run_var[i] + w * unbiased

    def parameters(self):
        """(name, array) of every trainable array, in a fixed order; arrays are updated in place."""
        named = []
        for i in range(self.hidden + 1):
            named.append((f"W{i}", self.W[i]))
            if self.b[i] is not None:
                named.append((f"b{i}", self.b[i]))
        for i in range(len(self.gamma)):
            named += [(f"gamma{i}", self.gamma[i]), (f"beta{i}", self.beta[i])]
        return named

    def gradient_list(self, grads):
        """The gradients in the order of parameters()."""
        out = []
        for i in range(self.hidden + 1):
            out.append(grads["W"][i])
            if self.b[i] is not None:
                out.append(grads["b"][i])
        for i in range(len(self.gamma)):
            out += [grads["gamma"][i], grads["beta"][i]]
        return out


class Optimizer:
    """Updates a list of arrays in place. kind: sgd, momentum, nesterov, adagrad, rmsprop or adam."""

    def __init__(self, kind, momentum=0.9, beta1=0.9, beta2=0.999, rho=0.9, eps=1e-8, initial_accumulator=0.0):
        self.kind, self.momentum, self.beta1, self.beta2, self.rho, self.eps = kind, momentum, beta1, beta2, rho, eps
        self.initial_accumulator = initial_accumulator
        self.t = 0
        self.state = None

    def step(self, params, grads, lr):
        if self.state is None:
            start = self.initial_accumulator if self.kind == "adagrad" else 0.0
            self.state = [[np.full_like(p, start) for p in params] for _ in range(2)]
        self.t += 1
        first, second = self.state
        for p, g, m, v in zip(params, grads, first, second, strict=True):
            if self.kind == "sgd":
                p -= lr * g
            elif self.kind in ("momentum", "nesterov"):
                m[...] = self.momentum * m + g
                p -= lr * (g + self.momentum * m if self.kind == "nesterov" else m)
            elif self.kind == "adagrad":
                m += g * g
                p -= lr * g / (np.sqrt(m) + self.eps)
            elif self.kind == "rmsprop":
                m[...] = self.rho * m + (1 - self.rho) * g * g
                p -= lr * g / (np.sqrt(m) + self.eps)
            elif self.kind == "adam":
                m[...] = self.beta1 * m + (1 - self.beta1) * g
                v[...] = self.beta2 * v + (1 - self.beta2) * g * g
                m_hat = m / (1 - self.beta1**self.t)
                v_hat = v / (1 - self.beta2**self.t)
                p -= lr * m_hat / (np.sqrt(v_hat) + self.eps)
            else:
                raise ValueError(f"unknown optimiser {self.kind!r}")


def train(net, optimizer, x, y, epochs=5, batch_size=64, lr=0.01, seed=0):
    """Plain minibatch training, as one would use the network on its own; returns the last epoch's mean loss."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch_size):
            rows = order[start : start + batch_size]
            widths = net.sizes[1:-1]
            keep = [
                rng.random((len(rows), w)) >= p if p > 0 else None for p, w in zip(net.dropout, widths, strict=True)
            ]
            logits, cache = net.forward(x[rows], train=True, keep=keep)
            loss, dlogits = net.loss(logits, y[rows])
            grads = net.backward(cache, dlogits)
            if net.batch_norm:
                net.update_running_stats(cache, len(rows))
            optimizer.step([p for _, p in net.parameters()], net.gradient_list(grads), lr)
            losses.append(loss)
    return float(np.mean(losses))
