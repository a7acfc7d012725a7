"""PyTorch as a fwcompare framework plug-in (harness.core.frameworks). Importing this module does not import torch;
each hook imports it when called."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import numpy as np

from harness.core.defaults import LibraryDefault
from harness.core.frameworks import FrameworkPlugin, check_device_choice
from harness.core.specs import InitSpec

_DOCS = "https://pytorch.org/docs/stable/generated/"
_LINEAR = f"{_DOCS}torch.nn.Linear.html; torch/nn/modules/linear.py Linear.reset_parameters"
_BATCH_NORM = f"{_DOCS}torch.nn.BatchNorm1d.html"
_ADAM, _RMSPROP, _ADAGRAD, _SGD = (f"{_DOCS}torch.optim.{name}.html" for name in ("Adam", "RMSprop", "Adagrad", "SGD"))


class TorchPlugin(FrameworkPlugin):
    name = "torch"
    label = "PyTorch"
    order = 10
    model = "torch_impl.model:MLP"
    modules = ("torch",)
    requirement = "torch==2.13.0"
    distributions = ("torch",)
    # torch.optim's update rules; BatchNorm1d stores the unbiased (N/(N-1)) batch variance in running_var.
    optimizer_forms: ClassVar[Mapping[str, str]] = {
        "sgd": "plain",
        "momentum": "gradient-buffer",
        "nesterov": "gradient-buffer",
        "adagrad": "eps-outside-root",
        "rmsprop": "eps-outside-root",
        "adam": "eps-outside-root",
    }
    running_var = "unbiased"
    schema1_form_name = "torch"
    reader = "torch_impl.port"
    gemm_library = "torch"
    gpu_capable = True
    conventions: ClassVar[Mapping[str, str]] = {
        "dense-layout": "nn.Linear.weight is (out, in); y = x·Wᵀ + b (torch_impl.params transposes)",
        "dense-init": "nn.Linear: kaiming_uniform_(a=√5) kernel = U(±1/√fan_in), bias U(±1/√fan_in)",
        "optimizer-defaults": "Adam eps 1e-8; RMSprop alpha 0.99, eps 1e-8; Adagrad eps 1e-10, initial accumulator 0",
        "bn-momentum": "momentum=0.1 (default) means running = 0.9·running + 0.1·batch",
        "bn-eps": "eps=1e-5 (default), inside the root: (x − μ)/√(σ² + eps)",
        "bn-running-variance": "running_var averages the unbiased batch variance (N/(N−1))",
        "dropout-scaling": "inverted dropout from its own RNG: kept units × 1/(1 − p)",
        "float64-hyperparameters": "Python floats enter float64 arithmetic unchanged",
        "loss-dtype": "losses compute in the input dtype",
        "l2-penalty": "weight_decay is coupled L2 on every parameter (g += λ·p)",
        "lr-schedule": "schedulers step when called (usually per epoch)",
        "momentum-velocity-form": "buf = μ·buf + g; p −= lr·buf  (Nesterov: p −= lr·(g + μ·buf))",
        "eps-inside-root": "p −= lr·g/(√s + eps); initial accumulator 0, RMSprop's rho is called alpha",
        "adam-epsilon-hat": "p −= lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + eps)",
        "adam-bias-correction-dtype": "1 − β₁ᵗ and 1 − β₂ᵗ are Python (float64) numbers",
        "default-float-type": "torch.get_default_dtype() is float32 (new tensors, nn.Linear); a tensor from a float64 "
        "array stays float64",
        "deterministic-kernels": "TF32 off for matmul by default; use_deterministic_algorithms(False) by default",
        "rounding-sensitive-trajectory": "its own summation orders and element-wise kernels (MKL/oneDNN GEMMs, SIMD "
        "tanh/exp)",
    }

    # Checked against the installed torch by tests/test_library_defaults.py.
    library_defaults: ClassVar[Mapping[str, LibraryDefault]] = {
        # kaiming_uniform_(a=√5) is U(±√(6/((1 + 5)·fan_in))) = U(±1/√fan_in); the bias is U(±1/√fan_in) too.
        "init": LibraryDefault(InitSpec("fan_in_uniform", bias="like_weights"), _LINEAR),
        # BatchNorm1d(momentum=0.1) weights the new batch by 0.1: the running average keeps 0.9.
        "bn.momentum": LibraryDefault(0.9, _BATCH_NORM),
        "bn.eps": LibraryDefault(1e-5, _BATCH_NORM),
        "adam.beta1": LibraryDefault(0.9, _ADAM),
        "adam.beta2": LibraryDefault(0.999, _ADAM),
        "adam.eps": LibraryDefault(1e-8, _ADAM),
        "rmsprop.rho": LibraryDefault(0.99, f"{_RMSPROP} (alpha)"),
        "rmsprop.eps": LibraryDefault(1e-8, _RMSPROP),
        "adagrad.eps": LibraryDefault(1e-10, _ADAGRAD),
        "adagrad.initial_accumulator": LibraryDefault(0.0, f"{_ADAGRAD} (initial_accumulator_value)"),
    }
    form_sources: ClassVar[Mapping[str, str]] = {
        "momentum": _SGD,
        "nesterov": _SGD,
        "adagrad": _ADAGRAD,
        "rmsprop": _RMSPROP,
        "adam": _ADAM,
        "batch_norm": _BATCH_NORM,
    }

    def configure_threads(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        if torch.get_num_interop_threads() != threads:
            # Settable once per process, before any inter-op work; a later call keeps the first setting.
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(threads)

    @contextlib.contextmanager
    def deterministic(self) -> Iterator[None]:
        import torch

        from torch_impl.device import deterministic_mode

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with deterministic_mode():
                yield
        finally:
            torch.set_num_threads(threads)

    def model_device(self, requested: str) -> str:
        check_device_choice(requested)
        if requested == "cuda":
            from torch_impl.device import resolve_device

            resolve_device(requested)  # raises, with the fix, when no GPU is visible
        return requested

    def matmul(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out = torch.empty((a.shape[0], b.shape[1]), dtype=ta.dtype)
        return lambda: torch.mm(ta, tb, out=out)

    def gpu_model(self) -> str | None:
        if "torch" not in sys.modules:
            return None
        import torch

        if not torch.cuda.is_available():
            return ""
        return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


PLUGIN = TorchPlugin()
