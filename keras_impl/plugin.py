"""Keras 3 on TensorFlow as a fwcompare framework plug-in (harness.core.frameworks). Importing this module does not
import TensorFlow; each hook imports it when called, without TensorFlow's C++ start-up log."""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import ClassVar

import numpy as np

from harness.core.defaults import LibraryDefault
from harness.core.errors import FwcompareError
from harness.core.frameworks import FrameworkPlugin, check_device_choice
from harness.core.specs import InitSpec

_DOCS = "https://keras.io/api/"
_DENSE = f"{_DOCS}layers/core_layers/dense/"
_BATCH_NORM = f"{_DOCS}layers/normalization_layers/batch_normalization/"
_ADAM, _RMSPROP, _ADAGRAD, _SGD = (f"{_DOCS}optimizers/{name}/" for name in ("adam", "rmsprop", "adagrad", "sgd"))


class KerasPlugin(FrameworkPlugin):
    name = "keras"
    label = "Keras"
    order = 20
    model = "keras_impl.model:MLP"
    modules = ("tensorflow", "keras")
    requirement = "tensorflow-cpu==2.21.0 keras"
    # tensorflow-cpu and tensorflow are alternatives.
    distributions = ("tensorflow", "tensorflow-cpu", "keras")
    gemm_library = "tensorflow"
    gpu_capable = True
    # A process keeps memory from every model it built (traced graphs, Keras' global state): a fresh worker every
    # 7 cells lowered the default matrix's peak by 167 MiB for about 5 s of restarts (docs/memory.md).
    cells_per_worker = 7
    # keras.optimizers' rules (velocity momentum, eps inside the root, epsilon-hat Adam); BatchNormalization stores
    # the biased batch variance.
    optimizer_forms: ClassVar[Mapping[str, str]] = {
        "sgd": "plain",
        "momentum": "velocity",
        "nesterov": "velocity",
        "adagrad": "eps-inside-root",
        "rmsprop": "eps-inside-root",
        "adam": "epsilon-hat",
    }
    running_var = "biased"
    schema1_form_name = "keras"
    reader = "keras_impl.port"
    thread_env_vars = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    conventions: ClassVar[Mapping[str, str]] = {
        "dense-layout": "Dense.kernel is (in, out); y = x·K + b",
        "dense-init": "Dense: glorot_uniform kernel, zeros bias",
        "optimizer-defaults": "Adam epsilon 1e-7; RMSprop rho 0.9, epsilon 1e-7; Adagrad epsilon 1e-7, initial "
        "accumulator 0.1",
        "bn-momentum": "momentum=0.99 (default) means running = 0.99·running + 0.01·batch",
        "bn-eps": "epsilon=1e-3 (default), inside the root",
        "bn-running-variance": "moving_variance averages the biased batch variance (1/N)",
        "dropout-scaling": "inverted dropout from its own RNG: kept units × 1/(1 − p)",
        "float64-hyperparameters": "a Python float is cast through float32 first (0.9 becomes 0.8999999761581421)",
        "loss-dtype": "Loss objects compute in floatx() (float32 by default) even for float64 inputs",
        "l2-penalty": "weight_decay is decoupled; kernel_regularizer=L2(l) adds l·Σw² and calls float(l)",
        "lr-schedule": "LearningRateSchedule is evaluated at optimizer.iterations (per step, float32)",
        "momentum-velocity-form": "v = μ·v − lr·g; p += v  (Nesterov: p += μ·v − lr·g)",
        "eps-inside-root": "p −= lr·g/√(s + eps); initial accumulator 0.1",
        "adam-epsilon-hat": "p −= lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + eps)  (the paper's epsilon-hat)",
        "adam-bias-correction-dtype": "β₁ᵗ and β₂ᵗ are computed in the variable dtype "
        "(keras/src/optimizers/adam.py update_step)",
        "default-float-type": "keras.config.floatx() is float32: layers and variables without dtype= are float32",
        "deterministic-kernels": "TF32 on by default on Ampere/Hopper GPUs (~1e-3 relative); op determinism off",
        "rounding-sensitive-trajectory": "its own summation orders and element-wise kernels (oneDNN/Eigen)",
    }
    # Checked against the installed Keras by tests/test_library_defaults.py.
    library_defaults: ClassVar[Mapping[str, LibraryDefault]] = {
        "init": LibraryDefault(
            InitSpec("glorot_uniform", bias="zeros"), f"{_DENSE} (kernel_initializer, bias_initializer)"
        ),
        "bn.momentum": LibraryDefault(0.99, _BATCH_NORM),
        "bn.eps": LibraryDefault(1e-3, _BATCH_NORM),
        "adam.beta1": LibraryDefault(0.9, _ADAM),
        "adam.beta2": LibraryDefault(0.999, _ADAM),
        "adam.eps": LibraryDefault(1e-7, _ADAM),
        "rmsprop.rho": LibraryDefault(0.9, _RMSPROP),
        "rmsprop.eps": LibraryDefault(1e-7, _RMSPROP),
        "adagrad.eps": LibraryDefault(1e-7, _ADAGRAD),
        "adagrad.initial_accumulator": LibraryDefault(0.1, f"{_ADAGRAD} (initial_accumulator_value)"),
    }
    form_sources: ClassVar[Mapping[str, str]] = {
        "momentum": _SGD,
        "nesterov": _SGD,
        "adagrad": f"{_ADAGRAD}; keras/src/optimizers/adagrad.py update_step",
        "rmsprop": f"{_RMSPROP}; keras/src/optimizers/rmsprop.py update_step",
        "adam": f"{_ADAM}; keras/src/optimizers/adam.py update_step",
        "batch_norm": f"{_BATCH_NORM}; keras/src/layers/normalization/batch_normalization.py (ops.moments)",
    }

    def import_library(self) -> None:
        import_tensorflow()
        importlib.import_module("keras")

    def configure_threads(self, threads: int) -> None:
        tf = import_tensorflow()
        threading_config = tf.config.threading
        current = (
            threading_config.get_intra_op_parallelism_threads(),
            threading_config.get_inter_op_parallelism_threads(),
        )
        if current == (threads, threads):
            return
        try:
            threading_config.set_intra_op_parallelism_threads(threads)
            threading_config.set_inter_op_parallelism_threads(threads)
        except RuntimeError as error:
            raise FwcompareError(
                f"TensorFlow already runs with {current[0]} intra-op / {current[1]} inter-op threads and cannot "
                f"change to {threads} in this process ({error}); start a new process (a new `fwcompare run`) to "
                "change --threads"
            ) from error

    @contextlib.contextmanager
    def deterministic(self) -> Iterator[None]:
        """TF32 off (restored afterwards) and op determinism on; the latter has no public switch back and stays
        on for the rest of the process. Its thread counts are fixed at start-up (configure_threads)."""
        tf = import_tensorflow()
        tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
        tf.config.experimental.enable_tensor_float_32_execution(False)
        tf.config.experimental.enable_op_determinism()
        try:
            yield
        finally:
            tf.config.experimental.enable_tensor_float_32_execution(tf32)

    def matmul(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        tf = import_tensorflow()
        with tf.device("/CPU:0"):
            ta, tb = tf.constant(a), tf.constant(b)

        def product() -> object:
            with tf.device("/CPU:0"):
                # .numpy() waits for the result: TensorFlow's eager ops may return before the kernel finishes.
                return tf.linalg.matmul(ta, tb).numpy()

        return product

    def model_device(self, requested: str) -> str:
        check_device_choice(requested)
        if requested == "cuda":
            import_tensorflow()
            from keras_impl.device import resolve_device

            resolve_device(requested)  # raises, with the fix, when TensorFlow sees no GPU
        return requested


# The lines TensorFlow's C++ runtime prints while it loads: absl's notice and glog-style INFO/WARNING lines
# (I0000 00:00:... port.cc:153] oneDNN custom operations are on ...).
_TENSORFLOW_START_UP_LINE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} )")


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, without its C++ start-up log unless the user set TF_CPP_MIN_LOG_LEVEL.

    TensorFlow 2.21 logs before absl's logging is initialised, where TF_CPP_MIN_LOG_LEVEL is not yet read, so
    setting it does not silence those lines: file descriptor 2 is redirected while TensorFlow loads and everything
    but those lines (errors, Python warnings) is passed on. Raises ImportError like the import itself.
    """
    if "tensorflow" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return importlib.import_module("tensorflow")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # for what TensorFlow logs later, once absl reads it
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return importlib.import_module("tensorflow")
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line for line in captured.read().splitlines(keepends=True) if not _TENSORFLOW_START_UP_LINE.match(line)
            ]
            os.write(2, b"".join(kept))


PLUGIN = KerasPlugin()
