"""Framework conventions: where NumPy, PyTorch and Keras differ, and how the harness aligns or names each difference.

torch_impl and keras_impl always run their framework's own (native) form of the rules that no argument can
align; the reference can run either. `native_specs` rewrites a spec into the form a framework natively runs, so
a reference model built from the result is that framework's exact counterpart.
"""

from __future__ import annotations

from dataclasses import replace

from harness.specs import ModelSpec, TrainSpec

# framework -> (optimizer form, BN running-variance convention) it natively implements.
NATIVE_FORMS: dict[str, tuple[str, str]] = {
    # torch.optim update rules; BatchNorm1d stores the unbiased (N/(N-1)) batch variance in running_var.
    "torch": ("torch", "unbiased"),
    # keras.optimizers rules (epsilon-hat Adam, eps inside the root); BatchNormalization stores the biased one.
    "keras": ("keras", "biased"),
}


def native_specs(model_spec: ModelSpec, train_spec: TrainSpec, framework: str) -> tuple[ModelSpec, TrainSpec]:
    """The specs rewritten into `framework`'s native forms; the NumPy reference ('numpy') keeps them as given."""
    if framework not in NATIVE_FORMS:
        return model_spec, train_spec
    optimizer_form, running_var = NATIVE_FORMS[framework]
    if model_spec.batch_norm is not None:
        model_spec = replace(model_spec, batch_norm=replace(model_spec.batch_norm, running_var=running_var))
    train_spec = replace(train_spec, optimizer=replace(train_spec.optimizer, form=optimizer_form))
    return model_spec, train_spec
