"""torch_impl.device: --device resolution, the determinism settings, and CUDA runs (skipped without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.batching import dropout_masks, epoch_order
from harness.core.conventions import native_specs
from harness.core.initializers import initial_params
from harness.core.specs import BatchNormSpec, ModelSpec, OptimizerSpec, TrainSpec

pytest.importorskip("torch", reason="torch is not installed: its tests are skipped")

import torch

from torch_impl.device import DeviceUnavailableError, deterministic_mode, resolve_device
from torch_impl.model import MLP

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")

SPEC, TRAIN = native_specs(
    ModelSpec(6, (16, 12), 3, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3), dropout=(0.2, 0.4)),
    TrainSpec(optimizer=OptimizerSpec("momentum", lr=0.05), batch_size=8, dtype="float64"),
    "torch",
)


def test_auto_resolves_to_cuda_only_when_a_gpu_is_visible() -> None:
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_model_on_auto_reports_the_resolved_device() -> None:
    model = MLP(SPEC, TRAIN, initial_params(SPEC, 0, "float64"), device="auto")
    assert model.device == ("cuda" if HAS_CUDA else "cpu")
    assert {p.device.type for p in model.network.parameters()} == {model.device}


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA device is visible, so 'cuda' resolves")
def test_cuda_without_a_gpu_says_so_and_suggests_cpu() -> None:
    with pytest.raises(DeviceUnavailableError, match=r"no CUDA device is visible.*use --device cpu"):
        resolve_device("cuda")


def test_unknown_device_name_lists_the_choices() -> None:
    with pytest.raises(DeviceUnavailableError, match="auto, cpu, cuda"):
        resolve_device("tpu")


def test_deterministic_mode_sets_and_restores_the_flags() -> None:
    def flags() -> tuple[bool, ...]:
        return (
            torch.are_deterministic_algorithms_enabled(),
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark,
            torch.backends.cudnn.deterministic,
        )

    before = flags()
    with deterministic_mode():
        assert flags() == (True, False, False, False, True)
        model = MLP(SPEC, TRAIN, initial_params(SPEC, 0, "float64"))
        rng = np.random.default_rng(0)
        model.train_step(rng.standard_normal((8, 6)), rng.integers(0, 3, 8), dropout_masks(SPEC, 8, 0, 0))
    assert flags() == before


def assert_params_close(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], rtol: float) -> None:
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, rtol=rtol, atol=1e-12, err_msg=key)


@needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_epoch_matches_cpu_epoch(dtype: str) -> None:
    """A fast-path epoch on the GPU (determinism on, TF32 off) ends where the CPU epoch ends."""
    train = TrainSpec(optimizer=TRAIN.optimizer, batch_size=TRAIN.batch_size, dtype=dtype)
    params = initial_params(SPEC, 0, dtype)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((70, 6)).astype(dtype), rng.integers(0, 3, 70)
    order, masks = epoch_order(70, 0, 0), dropout_masks(SPEC, 70, 0, 0)
    results = {}
    with deterministic_mode():
        for device in ("cpu", "cuda"):
            model = MLP(SPEC, train, params, device=device, steps_per_epoch=9)
            loss = model.train_epoch(model.upload(x, y), order, masks)
            model.synchronize()
            results[device] = loss, model.get_params()
    rtol = 1e-10 if dtype == "float64" else 1e-5
    assert results["cuda"][0] == pytest.approx(results["cpu"][0], rel=rtol)
    assert_params_close(results["cuda"][1], results["cpu"][1], rtol)


@needs_cuda
def test_cuda_train_epoch_equals_cuda_train_steps() -> None:
    params = initial_params(SPEC, 0, "float64")
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((24, 6)), rng.integers(0, 3, 24)
    order, masks = epoch_order(24, 0, 0), dropout_masks(SPEC, 24, 0, 0)
    with deterministic_mode():
        fast = MLP(SPEC, TRAIN, params, device="cuda", steps_per_epoch=3)
        fast.train_epoch(fast.upload(x, y), order, masks)
        stepped = MLP(SPEC, TRAIN, params, device="cuda", steps_per_epoch=3)
        for start in range(0, 24, 8):
            rows = order[start : start + 8]
            stepped.train_step(x[rows], y[rows], {k: m[start : start + 8] for k, m in masks.items()})
    assert_params_close(fast.get_params(), stepped.get_params(), 1e-10)
