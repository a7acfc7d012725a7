"""Framework conventions: where the frameworks differ, and how the harness aligns or names each difference.

Every framework but the reference runs only its own (native) form of the rules that no argument can align, as its
plug-in declares (harness.core.frameworks: optimizer_forms, running_var); the reference can run any.
`native_specs` rewrites a spec into the forms a framework natively runs, so a reference model built from the
result is that framework's exact counterpart.

`CONVENTIONS` is the table of alignment decisions, as data, so the README, the report and the parity engine print
and cite the same rows; each registered framework adds its column (its plug-in's `conventions`).
`library_defaults` is a framework's table of its library's defaults with their sources (its plug-in's
library_defaults and its native forms), the defaults mode of the conventions study.
`form_differences` names the rows under which the native forms of two frameworks give different numbers for one
model and schedule; the parity engine cites those names when it reports such a difference as EXPLAINED.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.core.defaults import LibraryDefault
from harness.core.errors import FwcompareError
from harness.core.frameworks import plugin, plugins
from harness.core.specs import OPTIMIZER_FORMS, ModelSpec, TrainSpec

# Forms whose Adam computes its bias corrections β₁ᵗ, β₂ᵗ in the variables' dtype (harness.core.specs).
VARIABLE_DTYPE_BIAS_CORRECTION = ("epsilon-hat",)
# Optimiser -> the CONVENTIONS row that names a difference between two of its forms, and whether that difference
# needs eps > 0.
FORM_CONVENTIONS: dict[str, tuple[str, bool]] = {
    "momentum": ("momentum-velocity-form", False),
    "nesterov": ("momentum-velocity-form", False),
    "adagrad": ("eps-inside-root", True),
    "rmsprop": ("eps-inside-root", True),
    "adam": ("adam-epsilon-hat", True),
}


def native_forms(framework: str, optimizer: str) -> tuple[str | None, str | None]:
    """(optimizer form, BN running-variance convention) `framework` runs for `optimizer`; (None, None) for the
    reference, which runs whichever a spec names."""
    registered = plugin(framework)
    if registered.runs_every_form:
        return None, None
    return registered.optimizer_forms[optimizer], registered.running_var


def native_specs(model_spec: ModelSpec, train_spec: TrainSpec, framework: str) -> tuple[ModelSpec, TrainSpec]:
    """The specs rewritten into `framework`'s native forms; the reference keeps them as given."""
    optimizer_form, running_var = native_forms(framework, train_spec.optimizer.name)
    if optimizer_form is None:
        return model_spec, train_spec
    if model_spec.batch_norm is not None and running_var is not None:
        model_spec = replace(model_spec, batch_norm=replace(model_spec.batch_norm, running_var=running_var))
    train_spec = replace(train_spec, optimizer=replace(train_spec.optimizer, form=optimizer_form))
    return model_spec, train_spec


def require_native(model_spec: ModelSpec, train_spec: TrainSpec, framework: str) -> None:
    """Raise FwcompareError unless the specs are in forms `framework`'s MLP runs (its plug-in's native forms and
    other_forms)."""
    optimizer_form, running_var = native_forms(framework, train_spec.optimizer.name)
    other = plugin(framework).other_forms
    wrong = []
    if train_spec.optimizer.form not in (optimizer_form, *other.get(train_spec.optimizer.name, ())):
        wrong.append(f"optimizer form {train_spec.optimizer.form!r} (native: {optimizer_form!r})")
    running_vars = (running_var, *other.get("running_var", ()))
    if model_spec.batch_norm is not None and model_spec.batch_norm.running_var not in running_vars:
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
    decision: str
    why: str
    aligned: bool


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        name="dense-layout",
        topic="Dense kernel layout",
        decision="canonical dense{i}.W is (in, out); a framework whose layer stores (out, in) transposes in its params "
        "adapter, on load and export",
        why="one parameter dict must load bit-identically everywhere; a missed transpose shows up at dense{i}",
        aligned=True,
    ),
    Convention(
        name="dense-init",
        topic="Dense initialisers",
        decision="initial parameters are drawn once, in NumPy, from the spec's InitSpec (kernel scheme and bias) and "
        "loaded into every framework; no framework's own initialiser runs",
        why="the libraries' defaults differ (nn.Linear's U(±1/√fan_in) kernels and biases against Glorot-uniform "
        "kernels and zero biases) and their random streams could never match",
        aligned=True,
    ),
    Convention(
        name="optimizer-defaults",
        topic="Optimiser epsilons, RMSprop rho, AdaGrad accumulator",
        decision="OptimizerSpec states eps, betas, rho and the initial accumulator; every framework passes them, never "
        "its library's default",
        why="the defaults differ (Adam eps 1e-8 against 1e-7, RMSprop rho 0.99 against 0.9, AdaGrad's accumulator 0 "
        "against 0.1)",
        aligned=True,
    ),
    Convention(
        name="bn-momentum",
        topic="BatchNorm momentum meaning",
        decision="BatchNormSpec.momentum is the weight the running average keeps, running = momentum·running + "
        "(1 − momentum)·batch (default 0.9; the TF 1.x lecture ran 0.99); each framework passes it in its library's "
        "meaning, never a library default",
        why="the same word names opposite weights (spec 0.9 is 0.1 where the word weights the batch), and a "
        "library default such as 0.99 is a different model",
        aligned=True,
    ),
    Convention(
        name="bn-eps",
        topic="BatchNorm epsilon",
        decision="BatchNormSpec.eps is passed explicitly to every framework (the TF 1.x lecture ran 1e-3)",
        why="same formula, different defaults: a 1e-5 vs 1e-3 eps changes every normalised activation",
        aligned=True,
    ),
    Convention(
        name="bn-running-variance",
        topic="BatchNorm running variance",
        decision="not alignable by an argument: the reference runs either (BatchNormSpec.running_var) and "
        "native_specs picks each framework's",
        why="training-mode outputs agree, but running_var and every inference-mode output after a step differ "
        "by the factor N/(N−1) on the averaged variance",
        aligned=False,
    ),
    Convention(
        name="dropout-scaling",
        topic="Dropout scaling and masks",
        decision="keep-masks come from harness.core.batching.dropout_masks and every framework computes "
        "h·(mask·(1/(1 − p))) (keep_prob style: h·mask in training, h·(1 − p) at inference)",
        why="random masks cannot be compared; this exact expression matches every framework bit for bit",
        aligned=True,
    ),
    Convention(
        name="float64-hyperparameters",
        topic="Hyperparameters in float64 runs",
        decision="a framework whose library casts Python floats through float32 passes every hyperparameter (lr, "
        "momentum, betas, rho, eps, accumulator, L2) as np.float64",
        why="a float32-rounded momentum alone moves 100 float64 SGD steps by 7.7e-7 instead of 2.2e-15",
        aligned=True,
    ),
    Convention(
        name="loss-dtype",
        topic="Loss computation dtype",
        decision="every framework writes its loss expressions itself (stable log-sum-exp CE, MSE, binary CE from "
        "logits) in the model's dtype, mean over the batch",
        why="a float32 cross-entropy puts 2.6e-7 into a float64 loss; built-in reductions also differ with weights",
        aligned=True,
    ),
    Convention(
        name="l2-penalty",
        topic="L2 penalty",
        decision="every framework adds l2·Σ‖W‖² over kernels (no ½) to the loss itself; no weight_decay argument",
        why="coupled, decoupled and regulariser forms give different trajectories; biases and BN are excluded",
        aligned=True,
    ),
    Convention(
        name="lr-schedule",
        topic="Learning-rate schedules",
        decision="harness.core.schedules.learning_rate(train_spec, step, steps_per_epoch) defines the lr at every "
        "0-based step; every framework calls it, or reproduces it in float64 inside its optimiser",
        why="per-epoch vs per-step clocks and float32 schedules would otherwise change the lr sequence",
        aligned=True,
    ),
    Convention(
        name="momentum-velocity-form",
        topic="SGD momentum / Nesterov velocity",
        decision="not alignable: the reference runs both forms (OptimizerSpec.form gradient-buffer or velocity); "
        "the velocity slot holds each form's own quantity (v = −lr·buf while lr is constant)",
        why="identical parameters under a constant lr; once the lr changes the gradient-buffer form rescales the "
        "whole history by the new lr while the velocity form scaled each gradient by the lr of its own step",
        aligned=False,
    ),
    Convention(
        name="eps-inside-root",
        topic="AdaGrad / RMSprop epsilon placement",
        decision="not alignable for eps > 0: the reference runs both forms (eps-outside-root, eps-inside-root); the "
        "initial accumulator and rho are passed explicitly, never a library default",
        why="a constant eps cannot be both inside and outside the root; the gap is largest where s is small",
        aligned=False,
    ),
    Convention(
        name="adam-epsilon-hat",
        topic="Adam epsilon",
        decision="not alignable for eps > 0: the reference runs both forms (eps-outside-root, epsilon-hat)",
        why="epsilon-hat's eps equals the other form's eps·√(1 − β₂ᵗ), which changes with t, so no constant matches",
        aligned=False,
    ),
    Convention(
        name="adam-bias-correction-dtype",
        topic="Adam bias correction in float32",
        decision="not alignable by an argument: in float32 the reference's epsilon-hat form computes β₁ᵗ, β₂ᵗ "
        "and its step size in float32, as that form's library does; float64 runs are unaffected",
        why="1 − float32(0.999) is 1.3e-5 off 0.001, so each float32 step with coefficients in the variables' dtype "
        "is 6e-6 to 1e-5 relative smaller than with float64 ones (t = 1 to 100), visible after a few steps",
        aligned=False,
    ),
    Convention(
        name="deterministic-kernels",
        topic="TF32 and determinism",
        decision="parity runs turn TF32 off and determinism on in every framework (harness.parity.suite."
        "deterministic_settings, through each plug-in's deterministic())",
        why="TF32 rounds matmul inputs to a 10-bit mantissa, far above every float32 tolerance",
        aligned=True,
    ),
    Convention(
        name="default-float-type",
        topic="Default float type",
        decision="every framework builds its layers, variables and arrays in the ModelSpec's dtype, given "
        "explicitly, and never changes a library's global default (its default dtype or float setting, in each "
        "framework's column); a library that needs a switch for float64 gets it for each model call, as a context "
        "for the calling thread",
        why="a library default would train a float64 run in float32, with its scalar coefficients (optax's 1 − βᵗ, "
        "the schedule) float32 too, and a global switch would change the other frameworks in the same process",
        aligned=True,
    ),
    Convention(
        name="rounding-sensitive-trajectory",
        topic="Rounding amplified by training",
        decision="after K steps, a difference up to 4× the reference's own rounding sensitivity (the reference "
        "retrained with each batch's rows or every layer's units reversed or rotated — same mathematics, other "
        "summation orders — or with every input moved by one unit in the last place) is EXPLAINED with both sizes",
        why="Adam/RMSprop/AdaGrad divide each gradient by its own running magnitude, so rounding noise in near-zero "
        "gradients becomes lr-sized steps; in float32 such tensors differ between any two correct implementations "
        "(the Dense bias before BatchNorm, whose true gradient is 0, is left out for this reason: harness.core.params)",
        aligned=False,
    ),
)

CONVENTIONS_BY_NAME: dict[str, Convention] = {c.name: c for c in CONVENTIONS}


def form_differences(model_spec: ModelSpec, train_spec: TrainSpec, left: str, right: str) -> tuple[str, ...]:
    """Names of the non-aligned CONVENTIONS under which the native forms of frameworks `left` and `right` differ
    for these specs.

    A named difference need not show in every tensor: momentum forms give the same parameters under a constant lr
    (only their velocity slots differ), and the running variance leaves training-mode outputs alone.
    """
    optimizer = train_spec.optimizer
    (left_model, left_train), (right_model, right_train) = (
        native_specs(model_spec, train_spec, framework) for framework in (left, right)
    )
    left_form, right_form = left_train.optimizer.form, right_train.optimizer.form
    left_var, right_var = (m.batch_norm.running_var if m.batch_norm else None for m in (left_model, right_model))
    names = []
    if model_spec.batch_norm is not None and left_var != right_var:
        names.append("bn-running-variance")
    if optimizer.name in FORM_CONVENTIONS and left_form != right_form:
        name, needs_eps = FORM_CONVENTIONS[optimizer.name]
        if optimizer.eps > 0 or not needs_eps:
            names.append(name)
    in_variable_dtype = {form in VARIABLE_DTYPE_BIAS_CORRECTION for form in (left_form, right_form)}
    if optimizer.name == "adam" and train_spec.dtype == "float32" and len(in_variable_dtype) > 1:
        names.append("adam-bias-correction-dtype")
    return tuple(names)


def library_defaults(framework: str) -> dict[str, LibraryDefault]:
    """Framework `framework`'s library defaults (harness.core.defaults): its plug-in's library_defaults, plus the
    update rule of every optimiser that has several (its optimizer_forms) and its BN running variance, each with
    its plug-in's form_sources entry. Empty when its plug-in lists none."""
    registered = plugin(framework)
    if not registered.library_defaults:
        return {}
    table = dict(registered.library_defaults)
    for optimizer, forms in OPTIMIZER_FORMS.items():
        if len(forms) > 1:
            table[f"{optimizer}.form"] = LibraryDefault(
                registered.optimizer_forms[optimizer], registered.form_sources.get(optimizer, "")
            )
    table["bn.running_var"] = LibraryDefault(registered.running_var, registered.form_sources.get("batch_norm", ""))
    return table


def defaults_frameworks() -> tuple[str, ...]:
    """The registered frameworks whose plug-ins list their library's defaults, in plugin order."""
    return tuple(name for name, registered in plugins().items() if registered.library_defaults)


def defaults_markdown() -> str:
    """Every framework's library defaults (defaults_frameworks) as a Markdown table: setting, then each
    framework's value and source."""
    tables = {framework: library_defaults(framework) for framework in defaults_frameworks()}
    names = list(dict.fromkeys(name for table in tables.values() for name in table))
    labels = " | ".join(f"{plugin(framework).label} | source" for framework in tables)
    lines = [f"| Setting | {labels} |", f"|---|{'---|---|' * len(tables)}"]
    for name in names:
        cells = []
        for table in tables.values():
            default = table.get(name)
            cells += [_described(default.value), default.source] if default else ["", ""]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _described(value: object) -> str:
    """A default's value for a table: an InitSpec by its scheme and bias, anything else as written."""
    scheme, bias = getattr(value, "scheme", None), getattr(value, "bias", None)
    return (
        f"{scheme} kernel, {'bias like the kernel' if bias == 'like_weights' else 'zero bias'}"
        if scheme
        else str(value)
    )


def conventions_markdown() -> str:
    """CONVENTIONS as a Markdown table for the README and the report: topic, one column per registered framework
    that describes its library (its plug-in's `conventions`), what fwcompare does, why."""
    columns = [registered for registered in plugins().values() if registered.conventions]
    header = (
        f"| Topic | {' | '.join(c.label for c in columns)} | fwcompare | Why |\n|---|{'---|' * len(columns)}---|---|\n"
    )
    lines = [
        f"| {c.topic} | {' | '.join(f.conventions.get(c.name, '') for f in columns)} | {c.decision} | {c.why} |"
        for c in CONVENTIONS
    ]
    return header + "\n".join(lines) + "\n"
