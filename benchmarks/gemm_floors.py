"""The epoch's GEMMs alone, in each library: the floor under every path that multiplies with that library.

The limit (harness/run/gemm.py) divides the epoch's GEMM FLOPs by the best rate of one large square product; the
epoch's own products are small (128×784 by 784×256 at batch 128) and a library may run them well below its peak.
A GEMMs-only epoch runs exactly the products of a training epoch — per batch and layer the forward x·W, the
kernel gradient hᵀ·δ and, except into the data, δ·Wᵀ — at their shapes and transposes, over consecutive batches
of the training rows, and nothing else: no element-wise work, no gather, no update. Each library's training
paths are then timed against their own floor in the same round.

Each `make_*` takes x (n, d) float32, the layer sizes and the batch size, and returns epoch(order) (the order is
not used: rows are taken consecutively, so the gather is not timed). The backward pass is the real chain without
its element-wise factors: δ of the output layer is the forward output, and each δ·Wᵀ is the next layer's δ. Every
product thus depends on the batch, so a compiler can neither fold one into a constant nor hoist it out of the loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

Epoch = Callable[[np.ndarray], None]


def _kernels(sizes: tuple[int, ...], dtype: np.dtype) -> list[np.ndarray]:
    """Kernels (fan_in, fan_out), seeded uniform noise scaled by 1/√fan_in so the chained products stay near 1."""
    rng = np.random.default_rng(0)
    return [
        ((rng.random((fan_in, fan_out)) - 0.5) / np.sqrt(fan_in)).astype(dtype)
        for fan_in, fan_out in itertools.pairwise(sizes)
    ]


def _full_batches(n: int, batch_size: int) -> range:
    return range(0, n - batch_size + 1, batch_size)


def make_numpy(x: np.ndarray, sizes: tuple[int, ...], batch_size: int) -> Epoch:
    """NumPy's matmul (its OpenBLAS), one product after another from Python, as the reference calls them."""
    kernels = _kernels(sizes, x.dtype)

    def epoch(order: np.ndarray) -> None:
        for start in _full_batches(len(x), batch_size):
            inputs = [x[start : start + batch_size]]
            for kernel in kernels:
                inputs.append(inputs[-1] @ kernel)
            delta = inputs.pop()
            for i in reversed(range(len(kernels))):
                np.matmul(inputs[i].T, delta)
                if i > 0:
                    delta = delta @ kernels[i].T

    return epoch


def make_torch(x: np.ndarray, sizes: tuple[int, ...], batch_size: int) -> Epoch:
    """torch.mm on CPU tensors, from Python, as torch's autograd calls them (it stores Linear kernels as
    (fan_out, fan_in); the transposes below are the ones its forward and backward take)."""
    import torch

    weights = [torch.from_numpy(np.ascontiguousarray(kernel.T)) for kernel in _kernels(sizes, x.dtype)]
    x_t = torch.from_numpy(x)

    def epoch(order: np.ndarray) -> None:
        for start in _full_batches(len(x), batch_size):
            inputs = [x_t[start : start + batch_size]]
            for weight in weights:
                inputs.append(inputs[-1] @ weight.T)
            delta = inputs.pop()
            for i in reversed(range(len(weights))):
                torch.mm(delta.T, inputs[i])
                if i > 0:
                    delta = delta @ weights[i]

    return epoch


def make_tensorflow(x: np.ndarray, sizes: tuple[int, ...], batch_size: int) -> Epoch:
    """tf.linalg.matmul inside one tf.function over the epoch's batches (a graph loop, as the Keras path runs)."""
    import tensorflow as tf

    with tf.device("/CPU:0"):
        kernels = [tf.constant(kernel) for kernel in _kernels(sizes, x.dtype)]
        x_t = tf.constant(x)
    steps = len(_full_batches(len(x), batch_size))

    @tf.function
    def run() -> tf.Tensor:
        # The sum of one element per product keeps every product alive in the graph.
        total = tf.constant(0.0, x_t.dtype)
        for step in tf.range(steps):
            inputs = [x_t[step * batch_size : (step + 1) * batch_size]]
            for kernel in kernels:
                inputs.append(tf.linalg.matmul(inputs[-1], kernel))
            delta = inputs.pop()
            for i in reversed(range(len(kernels))):
                total += tf.linalg.matmul(inputs[i], delta, transpose_a=True)[0, 0]
                if i > 0:
                    delta = tf.linalg.matmul(delta, kernels[i], transpose_b=True)
            total += delta[0, 0]
        return total

    def epoch(order: np.ndarray) -> None:
        with tf.device("/CPU:0"):
            run().numpy()

    return epoch


def jax_epoch_products(x: np.ndarray, sizes: tuple[int, ...], batch_size: int) -> tuple[Callable, object]:
    """(the epoch's products as one lax.scan over the batches (steps, batch_size, d), those batches): jit the
    function and call it on them."""
    import jax
    import jax.numpy as jnp

    kernels = [jnp.asarray(kernel) for kernel in _kernels(sizes, x.dtype)]
    steps = len(_full_batches(len(x), batch_size))
    batches = jnp.asarray(x[: steps * batch_size]).reshape(steps, batch_size, x.shape[1])

    def run(batches: jax.Array) -> jax.Array:
        def step(total: jax.Array, batch: jax.Array) -> tuple[jax.Array, None]:
            inputs = [batch]
            for kernel in kernels:
                inputs.append(inputs[-1] @ kernel)
            delta = inputs.pop()
            for i in reversed(range(len(kernels))):
                total += (inputs[i].T @ delta)[0, 0]
                if i > 0:
                    delta = delta @ kernels[i].T
            return total + delta[0, 0], None

        return jax.lax.scan(step, jnp.zeros((), batches.dtype), batches)[0]

    return run, batches


def make_jax(x: np.ndarray, sizes: tuple[int, ...], batch_size: int) -> Epoch:
    """jnp.matmul inside one jitted lax.scan over the epoch's batches (XLA's CPU GEMM, as the JAX path runs)."""
    import jax

    products, batches = jax_epoch_products(x, sizes, batch_size)
    run = jax.jit(products)

    def epoch(order: np.ndarray) -> None:
        jax.block_until_ready(run(batches))

    return epoch


# GEMM library (a plug-in's gemm_library) -> its GEMMs-only epoch.
GEMM_FLOORS: dict[str, Callable[[np.ndarray, tuple[int, ...], int], Epoch]] = {
    "numpy": make_numpy,
    "torch": make_torch,
    "tensorflow": make_tensorflow,
    "jax": make_jax,
}
