"""keras_impl.device: --device resolution for TensorFlow."""

from __future__ import annotations

import pytest

from harness.core.conventions import native_specs
from harness.core.initializers import initial_params
from harness.core.specs import ModelSpec, TrainSpec

pytest.importorskip("tensorflow", reason="tensorflow is not installed: its tests are skipped")

import tensorflow as tf

from keras_impl.device import DeviceUnavailableError, resolve_device
from keras_impl.model import MLP

HAS_GPU = bool(tf.config.list_physical_devices("GPU"))


def test_auto_resolves_to_the_gpu_only_when_tensorflow_sees_one() -> None:
    assert resolve_device("auto") == ("/GPU:0" if HAS_GPU else "/CPU:0")
    assert resolve_device("cpu") == "/CPU:0"


@pytest.mark.skipif(HAS_GPU, reason="TensorFlow sees a GPU, so 'cuda' resolves")
def test_cuda_without_a_gpu_says_so_and_suggests_cpu() -> None:
    with pytest.raises(DeviceUnavailableError, match=r"sees no GPU.*use --device cpu"):
        resolve_device("cuda")


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(DeviceUnavailableError, match=r"auto, cpu, cuda"):
        resolve_device("tpu")


def test_model_variables_live_on_the_resolved_device() -> None:
    model_spec, train_spec = native_specs(ModelSpec(4, (3,), 2), TrainSpec(dtype="float64"), "keras")
    model = MLP(model_spec, train_spec, initial_params(model_spec, 0, "float64"), device="auto")
    expected = "GPU" if HAS_GPU else "CPU"
    assert all(f"/device:{expected}:0" in v.value.device for v in model.network.weights)
