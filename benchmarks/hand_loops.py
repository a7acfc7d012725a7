"""Minimal hand-written training loops, the bar a user would write in each framework: ReLU MLP, softmax
cross-entropy, Adam with each framework's defaults, batches taken consecutively from an epoch order.

Each `make_*` takes x (n, d) float32, y (n,) int64, layer sizes, lr, batch size and the canonical initial
parameters {"dense{i}.W": (in, out), "dense{i}.b": (out,)}, and returns epoch(order (n,)) that trains one epoch.
Only plain variants fit (ReLU, softmax CE, Adam, no dropout/BN/L2); see `fits_hand_loops`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from harness.core.specs import ModelSpec, TrainSpec

Epoch = Callable[[np.ndarray], None]


def fits_hand_loops(model: ModelSpec, train: TrainSpec) -> bool:
    """True when the variant is the plain network the hand loops write: ReLU, softmax CE, Adam, nothing else."""
    return (
        model.activation == "relu"
        and model.loss == "softmax_ce"
        and model.output == "linear"
        and not model.has_dropout
        and model.batch_norm is None
        and model.l2 == 0
        and train.optimizer.name == "adam"
        and train.schedule.kind == "constant"
    )


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def make_numpy(x, y, sizes, lr, batch_size, params) -> Epoch:
    """NumPy: forward, backward and Adam written out, buffers allocated by NumPy per step (as a user writes it)."""
    layers = len(sizes) - 1
    weights = [params[f"dense{i}.W"].astype(x.dtype) for i in range(layers)]
    biases = [params[f"dense{i}.b"].astype(x.dtype) for i in range(layers)]
    variables = weights + biases
    m = [np.zeros_like(v) for v in variables]
    v = [np.zeros_like(w) for w in variables]
    beta1, beta2, eps, step = 0.9, 0.999, 1e-8, [0]

    def epoch(order: np.ndarray) -> None:
        for rows in _batches(len(order), batch_size):
            picked = order[rows]
            h, y_b = [x[picked]], y[picked]
            for i in range(layers):
                z = h[-1] @ weights[i] + biases[i]
                h.append(np.maximum(z, 0) if i < layers - 1 else z)
            logits = h[-1]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y_b)), y_b] -= 1
            delta = p / len(y_b)
            grads_w, grads_b = [None] * layers, [None] * layers
            for i in reversed(range(layers)):
                grads_w[i], grads_b[i] = h[i].T @ delta, delta.sum(axis=0)
                if i > 0:
                    delta = (delta @ weights[i].T) * (h[i] > 0)
            step[0] += 1
            t = step[0]
            for variable, grad, m_i, v_i in zip(variables, grads_w + grads_b, m, v, strict=True):
                m_i *= beta1
                m_i += (1 - beta1) * grad
                v_i *= beta2
                v_i += (1 - beta2) * grad * grad
                variable -= (lr / (1 - beta1**t)) * m_i / (np.sqrt(v_i / (1 - beta2**t)) + eps)

    return epoch


def make_torch(x, y, sizes, lr, batch_size, params) -> Epoch:
    """PyTorch: nn.Sequential of Linear/ReLU, torch.optim.Adam defaults, F.cross_entropy."""
    import torch

    modules = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(params[f"dense{i}.W"].T.astype(np.float32)))
            linear.bias.copy_(torch.from_numpy(params[f"dense{i}.b"].astype(np.float32)))
        modules += [linear, torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def epoch(order: np.ndarray) -> None:
        order_t = torch.from_numpy(order)
        for rows in _batches(len(order), batch_size):
            picked = order_t[rows]
            loss = torch.nn.functional.cross_entropy(model(x_t[picked]), y_t[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def _keras_model(sizes, params):
    import keras

    layers = [keras.Input((sizes[0],))]
    for i, width in enumerate(sizes[1:]):
        layers.append(keras.layers.Dense(width, activation="relu" if i < len(sizes) - 2 else None))
    model = keras.Sequential(layers)
    for i, layer in enumerate(model.layers):
        layer.set_weights([params[f"dense{i}.W"].astype(np.float32), params[f"dense{i}.b"].astype(np.float32)])
    return model


def make_keras_fit(x, y, sizes, lr, batch_size, params) -> Epoch:
    """Keras `model.fit` with defaults: compile(Adam, sparse CE from logits), fit(x[order], y[order], shuffle off)."""
    import keras

    model = _keras_model(sizes, params)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )

    def epoch(order: np.ndarray) -> None:
        model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    return epoch


def _keras_step_loop(x, y, sizes, lr, batch_size, params, jit_compile: bool) -> Epoch:
    import keras
    import tensorflow as tf

    model = _keras_model(sizes, params)
    optimizer = keras.optimizers.Adam(learning_rate=lr)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(model.trainable_variables)
    x_t, y_t = tf.constant(x), tf.constant(y.astype(np.int64))

    @tf.function(jit_compile=jit_compile)
    def step(x_b, y_b):
        with tf.GradientTape() as tape:
            loss = loss_fn(y_b, model(x_b, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def epoch(order: np.ndarray) -> None:
        x_epoch, y_epoch = tf.gather(x_t, order), tf.gather(y_t, order)
        for rows in _batches(len(order), batch_size):
            step(x_epoch[rows], y_epoch[rows])

    return epoch


def make_keras_step(x, y, sizes, lr, batch_size, params) -> Epoch:
    """Keras: a tf.function train step (GradientTape, Adam) called over pre-split batches, no XLA."""
    return _keras_step_loop(x, y, sizes, lr, batch_size, params, jit_compile=False)


def make_keras_jit_step(x, y, sizes, lr, batch_size, params) -> Epoch:
    """Keras: the same step compiled with XLA (tf.function(jit_compile=True))."""
    return _keras_step_loop(x, y, sizes, lr, batch_size, params, jit_compile=True)


def make_jax(x, y, sizes, lr, batch_size, params) -> Epoch:
    """JAX: a jitted train step (jax.value_and_grad of optax's integer-label softmax CE, optax.adam defaults) called
    over batches taken from device arrays, float32 with JAX's defaults (x64 off)."""
    import jax
    import jax.numpy as jnp
    import optax

    layers = [
        (jnp.asarray(params[f"dense{i}.W"], jnp.float32), jnp.asarray(params[f"dense{i}.b"], jnp.float32))
        for i in range(len(sizes) - 1)
    ]
    optimizer = optax.adam(lr)
    state = [layers, optimizer.init(layers)]
    x_j, y_j = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def loss_of(layers, x_b, y_b):
        h = x_b
        for w, b in layers[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = layers[-1]
        return optax.softmax_cross_entropy_with_integer_labels(h @ w + b, y_b).mean()

    @jax.jit
    def step(layers, opt_state, x_b, y_b):
        grads = jax.grad(loss_of)(layers, x_b, y_b)
        updates, opt_state = optimizer.update(grads, opt_state, layers)
        return optax.apply_updates(layers, updates), opt_state

    def epoch(order: np.ndarray) -> None:
        x_epoch, y_epoch = x_j[order], y_j[order]
        for rows in _batches(len(order), batch_size):
            state[0], state[1] = step(state[0], state[1], x_epoch[rows], y_epoch[rows])
        jax.block_until_ready(state[0])

    return epoch


# (path name, framework, maker) in the order the suite lists them.
HAND_LOOPS = (
    ("numpy hand loop", "numpy", make_numpy),
    ("torch hand loop", "torch", make_torch),
    ("keras hand loop (tf.function step)", "keras", make_keras_step),
    ("keras jit step (XLA)", "keras", make_keras_jit_step),
    ("keras model.fit defaults", "keras", make_keras_fit),
    ("jax hand loop (jit step, optax)", "jax", make_jax),
)
