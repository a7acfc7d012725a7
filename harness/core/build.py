"""The one place a framework model is built for canonical specs (the runner, parity and the time estimate use it)."""

from __future__ import annotations

from harness.core.conventions import native_specs
from harness.core.frameworks import plugin
from harness.core.interface import FrameworkModel, Params, mode_options
from harness.core.specs import ModelSpec, TrainSpec


def build_model(
    model_cls: type[FrameworkModel],
    model_spec: ModelSpec,
    train_spec: TrainSpec,
    params: Params,
    *,
    device: str = "cpu",
    steps_per_epoch: int = 1,
    forms_of: str | None = None,
    mode: str = "exact",
) -> FrameworkModel:
    """A `model_cls` (of framework model_cls.framework, from harness.core.frameworks.model_class) loaded with
    `params` (canonical, harness.core.initializers), its specs rewritten into the native forms of `forms_of` (by
    default its own framework; the reference may take another framework's forms), on the device its plug-in gives
    for --device `device` (a CPU-only framework runs on the CPU whatever is asked), in execution `mode`
    (harness.core.interface.MODES)."""
    framework = model_cls.framework
    model_spec, train_spec = native_specs(model_spec, train_spec, forms_of or framework)
    return model_cls(
        model_spec,
        train_spec,
        params,
        device=plugin(framework).model_device(device),
        steps_per_epoch=steps_per_epoch,
        **mode_options(model_cls, mode),
    )
