"""Framework conventions: where NumPy, PyTorch and Keras differ, and how the harness aligns or names each difference.

torch_impl and keras_impl always run their framework's own (native) form of the rules that no argument can
align; the reference can run either. `native_specs` rewrites a spec into the form a framework natively runs, so
a reference model built from the result is that framework's exact counterpart.

`CONVENTIONS` is the table of alignment decisions, as data, so the README, the report and the parity engine print
and cite the same rows. `form_differences` names the rows under which the native forms of torch and Keras give
different numbers for one model and schedule; the parity engine cites those names when it reports a torch-vs-Keras
difference as EXPLAINED.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.core.errors import FwcompareError
from harness.core.specs import ModelSpec, TrainSpec

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


def require_native(model_spec: ModelSpec, train_spec: TrainSpec, framework: str) -> None:
    """Raise FwcompareError unless the specs are in `framework`'s native forms (what torch_impl/keras_impl run)."""
    optimizer_form, running_var = NATIVE_FORMS[framework]
    wrong = []
    if train_spec.optimizer.form != optimizer_form:
        wrong.append(f"optimizer form {train_spec.optimizer.form!r} (native: {optimizer_form!r})")
    if model_spec.batch_norm is not None and model_spec.batch_norm.running_var != running_var:
        wrong.append(f"BN running_var {model_spec.batch_norm.running_var!r} (native: {running_var!r})")
    if wrong:
        raise FwcompareError(
            f"{framework} runs only its native forms, but the spec asks for {'; '.join(wrong)}; pass the specs "
            f"through harness.core.conventions.native_specs(model_spec, train_spec, {framework!r}) first"
        )


@dataclass(frozen=True)
class Convention:
    """One place where the frameworks differ, and what fwcompare does about it.

    aligned: True when explicit arguments make all three compute the same numbers; False when no argument can, so
    the reference implements both native forms and parity compares each framework with its own form.
    """

    name: str
    topic: str
    torch: str
    keras: str
    decision: str
    why: str
    aligned: bool


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        name="dense-layout",
        topic="Dense kernel layout",
        torch="nn.Linear.weight is (out, in); y = x·Wᵀ + b",
        keras="Dense.kernel is (in, out); y = x·K + b",
        decision="canonical dense{i}.W is (in, out); the torch adapter transposes on load and export",
        why="one parameter dict must load bit-identically everywhere; a missed transpose shows up at dense{i}",
        aligned=True,
    ),
    Convention(
        name="bn-momentum",
        topic="BatchNorm momentum meaning",
        torch="momentum=0.1 (default) means running = 0.9·running + 0.1·batch",
        keras="momentum=0.99 (default) means running = 0.99·running + 0.01·batch",
        decision="BatchNormSpec.momentum has the Keras meaning (default 0.9; seed 001 ran TF 1.x's 0.99); torch "
        "gets 1 − momentum, Keras gets momentum, never either default",
        why="the same word names opposite weights: spec 0.9 is torch 0.1 and Keras 0.9, and Keras' default 0.99 "
        "is a different model",
        aligned=True,
    ),
    Convention(
        name="bn-eps",
        topic="BatchNorm epsilon",
        torch="eps=1e-5 (default), inside the root: (x − μ)/√(σ² + eps)",
        keras="epsilon=1e-3 (default), inside the root",
        decision="BatchNormSpec.eps is passed explicitly to both (seed 001 ran TF 1.x's 1e-3)",
        why="same formula, different defaults: a 1e-5 vs 1e-3 eps changes every normalised activation",
        aligned=True,
    ),
    Convention(
        name="bn-running-variance",
        topic="BatchNorm running variance",
        torch="running_var averages the unbiased batch variance (N/(N−1))",
        keras="moving_variance averages the biased batch variance (1/N)",
        decision="not alignable by an argument: the reference runs either (BatchNormSpec.running_var) and "
        "native_specs picks each framework's",
        why="training-mode outputs agree, but running_var and every inference-mode output after a step differ "
        "by the factor N/(N−1) on the averaged variance",
        aligned=False,
    ),
    Convention(
        name="dropout-scaling",
        topic="Dropout scaling and masks",
        torch="inverted dropout from its own RNG: kept units × 1/(1 − p)",
        keras="inverted dropout from its own RNG: kept units × 1/(1 − p)",
        decision="keep-masks come from harness.core.batching.dropout_masks and every framework computes "
        "h·(mask·(1/(1 − p))) (keep_prob style: h·mask in training, h·(1 − p) at inference)",
        why="random masks cannot be compared; this exact expression matches torch and Keras bit for bit",
        aligned=True,
    ),
    Convention(
        name="keras-float64-hyperparameters",
        topic="Keras hyperparameters in float64 runs",
        torch="Python floats enter float64 arithmetic unchanged",
        keras="a Python float is cast through float32 first (0.9 becomes 0.8999999761581421)",
        decision="keras_impl passes every hyperparameter (lr, momentum, betas, rho, eps, accumulator, L2) "
        "as np.float64",
        why="a float32-rounded momentum alone moves 100 float64 SGD steps by 7.7e-7 instead of 2.2e-15",
        aligned=True,
    ),
    Convention(
        name="loss-dtype",
        topic="Loss computation dtype",
        torch="losses compute in the input dtype",
        keras="Loss objects compute in floatx() (float32 by default) even for float64 inputs",
        decision="every framework writes its loss expressions itself (stable log-sum-exp CE, MSE, binary CE from "
        "logits) in the model's dtype, mean over the batch",
        why="Keras' float32 CE puts 2.6e-7 into a float64 loss; built-in reductions also differ with weights",
        aligned=True,
    ),
    Convention(
        name="l2-penalty",
        topic="L2 penalty",
        torch="weight_decay is coupled L2 on every parameter (g += λ·p)",
        keras="weight_decay is decoupled; kernel_regularizer=L2(l) adds l·Σw² and calls float(l)",
        decision="every framework adds l2·Σ‖W‖² over kernels (no ½) to the loss itself; no weight_decay argument",
        why="coupled, decoupled and regulariser forms give different trajectories; biases and BN are excluded",
        aligned=True,
    ),
    Convention(
        name="lr-schedule",
        topic="Learning-rate schedules",
        torch="schedulers step when called (usually per epoch)",
        keras="LearningRateSchedule is evaluated at optimizer.iterations (per step, float32)",
        decision="harness.core.schedules.learning_rate(train_spec, step, steps_per_epoch) defines the lr at every "
        "0-based step; torch_impl calls it, keras_impl reproduces it in float64 inside its optimiser",
        why="per-epoch vs per-step clocks and float32 schedules would otherwise change the lr sequence",
        aligned=True,
    ),
    Convention(
        name="momentum-velocity-form",
        topic="SGD momentum / Nesterov velocity",
        torch="buf = μ·buf + g; p −= lr·buf  (Nesterov: p −= lr·(g + μ·buf))",
        keras="v = μ·v − lr·g; p += v  (Nesterov: p += μ·v − lr·g)",
        decision="not alignable: the reference runs both forms (OptimizerSpec.form); the velocity slot holds "
        "each form's own quantity (v = −lr·buf while lr is constant)",
        why="identical parameters under a constant lr; once the lr changes torch rescales the whole history by the "
        "new lr while Keras scaled each gradient by the lr of its own step",
        aligned=False,
    ),
    Convention(
        name="eps-inside-root",
        topic="AdaGrad / RMSprop epsilon placement",
        torch="p −= lr·g/(√s + eps)",
        keras="p −= lr·g/√(s + eps)",
        decision="not alignable for eps > 0: the reference runs both forms; the initial accumulator (torch 0, "
        "Keras 0.1) and rho (torch alpha) are passed explicitly",
        why="a constant eps cannot be both inside and outside the root; the gap is largest where s is small",
        aligned=False,
    ),
    Convention(
        name="adam-epsilon-hat",
        topic="Adam epsilon",
        torch="p −= lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + eps)",
        keras="p −= lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + eps)  (the paper's epsilon-hat)",
        decision="not alignable for eps > 0: the reference runs both forms (OptimizerSpec.form)",
        why="Keras' eps equals torch's eps·√(1 − β₂ᵗ), which changes with t, so no constant matches",
        aligned=False,
    ),
    Convention(
        name="adam-bias-correction-dtype",
        topic="Adam bias correction in float32",
        torch="1 − β₁ᵗ and 1 − β₂ᵗ are Python (float64) numbers",
        keras="β₁ᵗ and β₂ᵗ are computed in the variable dtype (keras/src/optimizers/adam.py update_step)",
        decision="not alignable by an argument: in float32 the reference's Keras form computes β₁ᵗ, β₂ᵗ and its "
        "step size in float32 as Keras does; float64 runs are unaffected",
        why="1 − float32(0.999) is 1.3e-5 off 0.001, so each float32 Keras Adam step is 6e-6 to 1e-5 relative "
        "smaller than torch's (t = 1 to 100), visible after a few steps",
        aligned=False,
    ),
    Convention(
        name="deterministic-kernels",
        topic="TF32 and determinism",
        torch="TF32 off for matmul by default; use_deterministic_algorithms(False) by default",
        keras="TF32 on by default on Ampere/Hopper GPUs (~1e-3 relative); op determinism off",
        decision="parity runs turn TF32 off and determinism on in both (harness.parity.suite.deterministic_settings)",
        why="TF32 rounds matmul inputs to a 10-bit mantissa, far above every float32 tolerance",
        aligned=True,
    ),
    Convention(
        name="rounding-sensitive-trajectory",
        topic="Rounding amplified by training",
        torch="its own summation orders and element-wise kernels (MKL/oneDNN GEMMs, SIMD tanh/exp)",
        keras="its own summation orders and element-wise kernels (oneDNN/Eigen)",
        decision="after K steps, a difference up to 4× the reference's own rounding sensitivity (the reference "
        "retrained with each batch's rows reversed or rotated — same mathematics, other rounding — or with every "
        "input moved by one unit in the last place) is EXPLAINED with both sizes",
        why="Adam/RMSprop/AdaGrad divide each gradient by its own running magnitude, so rounding noise in near-zero "
        "gradients becomes lr-sized steps; in float32 such tensors differ between any two correct implementations "
        "(the Dense bias before BatchNorm, whose true gradient is 0, is left out for this reason: harness.core.params)",
        aligned=False,
    ),
)

CONVENTIONS_BY_NAME: dict[str, Convention] = {c.name: c for c in CONVENTIONS}


def form_differences(model_spec: ModelSpec, train_spec: TrainSpec) -> tuple[str, ...]:
    """Names of the non-aligned CONVENTIONS under which torch's and Keras' native forms differ for these specs.

    A named difference need not show in every tensor: momentum forms give the same parameters under a constant lr
    (only their velocity slots differ), and the running variance leaves training-mode outputs alone.
    """
    optimizer = train_spec.optimizer
    names = []
    if model_spec.batch_norm is not None:
        names.append("bn-running-variance")
    if optimizer.name in ("momentum", "nesterov"):
        names.append("momentum-velocity-form")
    if optimizer.name in ("adagrad", "rmsprop") and optimizer.eps > 0:
        names.append("eps-inside-root")
    if optimizer.name == "adam" and optimizer.eps > 0:
        names.append("adam-epsilon-hat")
    if optimizer.name == "adam" and train_spec.dtype == "float32":
        names.append("adam-bias-correction-dtype")
    return tuple(names)


def differing_conventions(model_spec: ModelSpec, train_spec: TrainSpec, left: str, right: str) -> tuple[str, ...]:
    """The form_differences names under which the native forms of frameworks `left` and `right` (NATIVE_FORMS;
    the spec's own for one not listed) differ: the optimiser rows when their optimizer forms differ, the BN row when
    their running-variance conventions do."""
    (left_optimizer, left_var), (right_optimizer, right_var) = (
        NATIVE_FORMS.get(name, (train_spec.optimizer.form, getattr(model_spec.batch_norm, "running_var", "unbiased")))
        for name in (left, right)
    )
    names = form_differences(model_spec, train_spec)
    return tuple(
        name
        for name in names
        if (name == "bn-running-variance" and left_var != right_var)
        or (name != "bn-running-variance" and left_optimizer != right_optimizer)
    )


def conventions_markdown() -> str:
    """CONVENTIONS as a Markdown table (topic, torch, Keras, decision, why) for the README and the report."""
    header = "| Topic | PyTorch | Keras | fwcompare | Why |\n|---|---|---|---|---|\n"
    lines = [f"| {c.topic} | {c.torch} | {c.keras} | {c.decision} | {c.why} |" for c in CONVENTIONS]
    return header + "\n".join(lines) + "\n"
