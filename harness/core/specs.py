"""Model and training specifications: frozen dataclasses that every framework builds from.

A spec is pure data. It never imports a framework library, so the reference can use it on a machine without any.
Validation happens at construction so an impossible hyperparameter fails before any training starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from harness.core.errors import SpecError

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "relu_linear_gradient")
OUTPUTS = ("linear", "sigmoid", "softmax")
LOSSES = ("softmax_ce", "mse", "binary_ce", "mse_normalized")
EVAL_LOSSES = ("training", "clipped_softmax_bce")
INIT_SCHEMES = (
    "normal",
    "uniform",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_normal",
    "glorot_variance_as_std",
    "fan_in_uniform",
)
BIAS_INITS = ("zeros", "like_weights")
DROPOUT_STYLES = ("inverted", "keep_prob")
RUNNING_VAR_CONVENTIONS = ("unbiased", "biased")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
# The update rules an optimiser exists in where frameworks differ (harness/core/conventions.py), named by the rule;
# the first is the default:
#   plain             sgd: p −= lr·g
#   gradient-buffer   buf = μ·buf + g; p −= lr·buf (the lr applied to the whole buffer at each step)
#   velocity          v = μ·v − lr·g; p += v (each gradient scaled by the lr of its own step)
#   eps-outside-root  g/(√s + eps), with Adam's bias corrections as float64 coefficients
#   eps-inside-root   g/√(s + eps)
#   epsilon-hat       Adam's lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·m/(√v + eps), β₁ᵗ and β₂ᵗ in the variables' dtype
OPTIMIZER_FORMS: dict[str, tuple[str, ...]] = {
    "sgd": ("plain",),
    "momentum": ("gradient-buffer", "velocity"),
    "nesterov": ("gradient-buffer", "velocity"),
    "adagrad": ("eps-outside-root", "eps-inside-root"),
    "rmsprop": ("eps-outside-root", "eps-inside-root"),
    "adam": ("eps-outside-root", "epsilon-hat"),
}
# Schema-1 form names: before forms were named by rule (records and TOML files of schema 1), a form was named after
# a framework that runs it natively. They are still accepted as OptimizerSpec.form and digested in place of the rule
# names (spec_key), so the cells of earlier run directories keep their keys. The names belong to the plug-ins that
# declare one (FrameworkPlugin.schema1_form_name); the registry supplies them here when harness.core loads, as
# {name: {optimiser: the form it stands for}}, in plug-in order.
Schema1FormNames = Mapping[str, Mapping[str, str]]
_schema1_form_names: Callable[[], Schema1FormNames] | None = None
SCHEDULES = ("constant", "linear", "exponential", "step")
SCHEDULE_GRANULARITIES = ("step", "epoch")
BATCH_SAMPLINGS = ("permutation", "with_replacement")
DTYPES = ("float32", "float64")


# lincoln's SoftmaxCrossEntropy clips softmax probabilities to [1e-9, 1 − 1e-9] before taking logs.
SOFTMAX_CLIP = 1e-9


def clipped_softmax_bounds(dtype: str) -> tuple[float, float]:
    """The clip interval of eval_loss 'clipped_softmax_bce' in `dtype`: 1 − 1e-9 rounds to 1 in float32, where
    log(1 − p) would be −inf, so the upper bound is then the largest float32 below 1."""
    below_one = float(np.nextafter(np.ones((), dtype), np.zeros((), dtype)))
    return SOFTMAX_CLIP, min(1 - SOFTMAX_CLIP, below_one)


def _require_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpecError(f"{owner}.{name}={value!r} is not valid; choose one of: {', '.join(choices)}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SpecError(message)


@dataclass(frozen=True)
class InitSpec:
    """Weight initialiser. Kernels are (fan_in, fan_out); biases follow `bias`.

    normal: N(0, std²).  uniform: U(-limit, limit).
    glorot_uniform: limit √(6/(fan_in+fan_out)).   glorot_normal: std √(2/(fan_in+fan_out)).
    he_uniform: limit √(6/fan_in).                 he_normal: std √(2/fan_in).
    lecun_normal: std √(1/fan_in).                fan_in_uniform: limit √(1/fan_in) (a library's dense-layer default).
    glorot_variance_as_std: std 2/(fan_in+fan_out), Glorot's *variance* used as the standard deviation, as
    lincoln's library (lincoln) does for weight_init="glorot" (20.9× below Glorot's σ for a 784→89 layer).
    truncated (normal schemes only): redraw outside ±2σ and divide σ by 0.87962566103423978 so the
    variance is kept, as Keras does; PyTorch's xavier_normal_/kaiming_normal_ do not truncate.
    """

    scheme: str = "glorot_uniform"
    std: float | None = None
    limit: float | None = None
    truncated: bool = False
    bias: str = "zeros"

    def __post_init__(self) -> None:
        _require_choice("InitSpec", "scheme", self.scheme, INIT_SCHEMES)
        _require_choice("InitSpec", "bias", self.bias, BIAS_INITS)
        if self.scheme == "normal":
            _require(self.std is not None and self.std > 0, "InitSpec(scheme='normal') needs std > 0")
        if self.scheme == "uniform":
            _require(self.limit is not None and self.limit > 0, "InitSpec(scheme='uniform') needs limit > 0")
        _require(
            not self.truncated or self.scheme.endswith("normal"),
            f"InitSpec.truncated applies to normal schemes only, not {self.scheme!r}",
        )


@dataclass(frozen=True)
class BatchNormSpec:
    """Batch normalisation after each hidden Dense, before its activation.

    momentum has the Keras meaning: running = momentum·running + (1 − momentum)·batch
    (PyTorch's momentum is 1 − this). running_var says which batch variance enters the running average:
    'unbiased' (N/(N−1), PyTorch) or 'biased' (1/N, Keras). Normalisation in training always uses the biased one.
    """

    momentum: float = 0.9
    eps: float = 1e-5
    running_var: str = "unbiased"

    def __post_init__(self) -> None:
        _require(0.0 <= self.momentum < 1.0, f"BatchNormSpec.momentum={self.momentum} must be in [0, 1)")
        _require(self.eps > 0, f"BatchNormSpec.eps={self.eps} must be > 0")
        _require_choice("BatchNormSpec", "running_var", self.running_var, RUNNING_VAR_CONVENTIONS)


@dataclass(frozen=True)
class ModelSpec:
    """An MLP: input → [Dense → (BN) → activation → (dropout)] per hidden size → Dense → output.

    dropout: drop probability per hidden layer (empty tuple = no dropout). dropout_style 'inverted' scales kept
    units by 1/(1−p) in training; 'keep_prob' (lincoln) multiplies by the mask in training and
    by (1−p) at inference. The output activation is applied inside the loss; `forward` returns logits.
    activation 'relu_linear_gradient' is lincoln's ReLU: max(z, 0) forward, but its backward mask
    `output >= 0` is true everywhere, so the gradient passes as if the activation were linear.
    l2: the loss gets l2·Σ‖W‖² over kernels (no ½, as Keras' L2 regulariser), biases and BN excluded.
    loss 'mse_normalized' is lincoln's MeanSquaredError(normalize=True): Σ_k (out_k/Σ_j out_j − onehot_k)²,
    whose gradient 2·(out/Σout − onehot)/n is applied to the raw outputs (none flows through the division).
    eval_loss is the loss that evaluation reports and early stopping watches: 'training' (the loss above) or
    'clipped_softmax_bce', lincoln's SoftmaxCrossEntropy value Σ_k −t_k·log p_k − (1 − t_k)·log(1 − p_k) with
    p = softmax(z) clipped to [1e-9, 1 − 1e-9] (its training gradient is the usual softmax_ce one).
    """

    input_size: int
    hidden_sizes: tuple[int, ...]
    output_size: int
    activation: str = "relu"
    leaky_relu_alpha: float = 0.01
    output: str = "linear"
    loss: str = "softmax_ce"
    init: InitSpec = field(default_factory=InitSpec)
    dropout: tuple[float, ...] = ()
    dropout_style: str = "inverted"
    batch_norm: BatchNormSpec | None = None
    l2: float = 0.0
    eval_loss: str = "training"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        object.__setattr__(self, "dropout", tuple(float(p) for p in self.dropout))
        _require(self.input_size > 0 and self.output_size > 0, "ModelSpec input_size/output_size must be > 0")
        _require(all(h > 0 for h in self.hidden_sizes), f"ModelSpec.hidden_sizes={self.hidden_sizes} must be > 0")
        _require_choice("ModelSpec", "activation", self.activation, ACTIVATIONS)
        _require_choice("ModelSpec", "output", self.output, OUTPUTS)
        _require_choice("ModelSpec", "loss", self.loss, LOSSES)
        _require_choice("ModelSpec", "dropout_style", self.dropout_style, DROPOUT_STYLES)
        _require_choice("ModelSpec", "eval_loss", self.eval_loss, EVAL_LOSSES)
        _require(
            not self.dropout or len(self.dropout) == len(self.hidden_sizes),
            f"ModelSpec.dropout has {len(self.dropout)} rates for {len(self.hidden_sizes)} hidden layers; "
            "give one drop probability per hidden layer (0.0 for none) or an empty tuple",
        )
        _require(
            all(0.0 <= p < 1.0 for p in self.dropout),
            f"ModelSpec.dropout={self.dropout}: each is a drop probability in [0, 1)",
        )
        _require(self.l2 >= 0, f"ModelSpec.l2={self.l2} must be >= 0")
        _require(
            self.loss != "softmax_ce" or self.output in ("linear", "softmax"),
            "loss 'softmax_ce' takes logits; use output='linear' (or 'softmax', which means the same here)",
        )
        _require(self.loss != "binary_ce" or self.output == "sigmoid", "loss 'binary_ce' needs output='sigmoid'")
        _require(
            self.loss != "mse_normalized" or self.output == "sigmoid",
            "loss 'mse_normalized' divides positive outputs by their sum; use output='sigmoid'",
        )
        _require(
            self.eval_loss != "clipped_softmax_bce" or self.output in ("linear", "softmax"),
            "eval_loss 'clipped_softmax_bce' applies a softmax to the logits; use output='linear'",
        )

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        """(input, hidden..., output)."""
        return (self.input_size, *self.hidden_sizes, self.output_size)

    @property
    def exact_gradient(self) -> bool:
        """False for lincoln's options whose backward pass is by design not the derivative of the loss
        (relu_linear_gradient, mse_normalized): a finite-difference check does not apply to them."""
        return self.activation != "relu_linear_gradient" and self.loss != "mse_normalized"

    @property
    def has_dropout(self) -> bool:
        return any(p > 0 for p in self.dropout)

    def dropout_rate(self, layer: int) -> float:
        """Drop probability after hidden layer `layer` (0 when the spec has no dropout)."""
        return self.dropout[layer] if self.dropout else 0.0


@dataclass(frozen=True)
class OptimizerSpec:
    """Optimiser with every hyperparameter explicit.

    form names the update rule meant where frameworks differ (OPTIMIZER_FORMS: momentum's gradient buffer or
    velocity, epsilon outside or inside the root, Adam's epsilon-hat); None means the optimiser's first form, and
    a schema-1 form name (the name of a framework that runs it natively, schema1_form_names) is read as that
    framework's form. A framework runs only its own native forms, the reference runs the form named here. See
    harness/core/conventions.py.
    """

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    rho: float = 0.9
    eps: float = 1e-7
    initial_accumulator: float = 0.0
    form: str | None = None

    def __post_init__(self) -> None:
        _require_choice("OptimizerSpec", "name", self.name, OPTIMIZERS)
        forms = OPTIMIZER_FORMS[self.name]
        if self.form is None:
            object.__setattr__(self, "form", forms[0])
        elif self.form not in forms and self.form in schema1_form_names():
            object.__setattr__(self, "form", schema1_form_names()[self.form][self.name])
        _require_choice(f"OptimizerSpec(name={self.name!r})", "form", self.form, forms)
        _require(self.lr > 0, f"OptimizerSpec.lr={self.lr} must be > 0")
        _require(0.0 <= self.momentum < 1.0, f"OptimizerSpec.momentum={self.momentum} must be in [0, 1)")
        for name in ("beta1", "beta2", "rho"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, f"OptimizerSpec.{name}={value} must be in [0, 1)")
        _require(self.eps >= 0, f"OptimizerSpec.eps={self.eps} must be >= 0")
        _require(self.initial_accumulator >= 0, "OptimizerSpec.initial_accumulator must be >= 0")


@dataclass(frozen=True)
class ScheduleSpec:
    """Learning-rate schedule as a function of progress t in [0, 1] (or of the step index for 'step').

    constant: lr.  linear: lr + (final_lr − lr)·t.  exponential: lr·(final_lr/lr)^t.
    step: lr·gamma^⌊k/step_size⌋ with k the step or epoch index.
    granularity 'epoch': t = epoch/(epochs−1), constant within an epoch (lincoln's decay);
    'step': t = k/(total_steps−1) with k the 0-based optimiser step.
    """

    kind: str = "constant"
    final_lr: float | None = None
    step_size: int = 1
    gamma: float = 0.1
    granularity: str = "epoch"

    def __post_init__(self) -> None:
        _require_choice("ScheduleSpec", "kind", self.kind, SCHEDULES)
        _require_choice("ScheduleSpec", "granularity", self.granularity, SCHEDULE_GRANULARITIES)
        if self.kind in ("linear", "exponential"):
            _require(
                self.final_lr is not None and self.final_lr > 0,
                f"ScheduleSpec(kind={self.kind!r}) needs final_lr > 0",
            )
        _require(self.step_size >= 1, f"ScheduleSpec.step_size={self.step_size} must be >= 1")
        _require(self.gamma > 0, f"ScheduleSpec.gamma={self.gamma} must be > 0")


@dataclass(frozen=True)
class EarlyStoppingSpec:
    """Evaluate on the validation set every `eval_every` epochs; stop after `patience` evaluations without a
    lower validation loss; with restore_best, put back the parameters of the best evaluation (lincoln)."""

    enabled: bool = False
    eval_every: int = 1
    patience: int = 1
    restore_best: bool = True

    def __post_init__(self) -> None:
        _require(self.eval_every >= 1, f"EarlyStoppingSpec.eval_every={self.eval_every} must be >= 1")
        _require(self.patience >= 1, f"EarlyStoppingSpec.patience={self.patience} must be >= 1")


@dataclass(frozen=True)
class TrainSpec:
    """How a model is trained: optimiser, schedule, batches, epochs, stopping, seed, dtype.

    sampling 'permutation' visits every sample once per epoch; 'with_replacement' draws each batch's rows
    uniformly with replacement (Saito's np.random.choice per iteration), an "epoch" then being as many draws as
    there are samples. drop_last skips an epoch's last partial batch (the TF1 lecture's len(x) // batch_size steps).
    max_steps ends training after that many optimiser steps, inside an epoch if need be (Saito's 2,000
    iterations), or at the end of `epochs`, whichever comes first.
    """

    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    batch_size: int = 128
    epochs: int = 1
    early_stopping: EarlyStoppingSpec = field(default_factory=EarlyStoppingSpec)
    seed: int = 0
    dtype: str = "float32"
    sampling: str = "permutation"
    drop_last: bool = False
    max_steps: int | None = None

    def __post_init__(self) -> None:
        _require(self.batch_size >= 1, f"TrainSpec.batch_size={self.batch_size} must be >= 1")
        _require(self.epochs >= 1, f"TrainSpec.epochs={self.epochs} must be >= 1")
        _require_choice("TrainSpec", "dtype", self.dtype, DTYPES)
        _require_choice("TrainSpec", "sampling", self.sampling, BATCH_SAMPLINGS)
        _require(self.max_steps is None or self.max_steps >= 1, f"TrainSpec.max_steps={self.max_steps} must be >= 1")

    def steps_per_epoch(self, n_samples: int) -> int:
        """Optimiser steps in one full epoch over n_samples rows (the schedule's clock)."""
        steps = n_samples // self.batch_size if self.drop_last else -(-n_samples // self.batch_size)
        if steps < 1:
            raise SpecError(
                f"batch_size {self.batch_size} with drop_last leaves no batch in {n_samples} samples; "
                "use a smaller batch_size"
            )
        return steps

    def epoch_rows(self, n_samples: int, epoch: int) -> int:
        """How many rows of the 0-based epoch's order are trained on (drop_last and max_steps applied)."""
        steps = self.steps_per_epoch(n_samples)
        rows = steps * self.batch_size if self.drop_last else n_samples
        if self.max_steps is not None:
            rows = min(rows, max(0, self.max_steps - epoch * steps) * self.batch_size)
        return rows


def spec_to_dict(spec: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) spec; tuples become lists."""
    return json.loads(json.dumps(asdict(spec)))


def supply_schema1_form_names(names: Callable[[], Schema1FormNames]) -> None:
    """Have `names` (the framework registry's table, computed when first asked) supply the schema-1 form names."""
    global _schema1_form_names
    _schema1_form_names = names


def schema1_form_names() -> Schema1FormNames:
    """{schema-1 form name: {optimiser: the form it stands for}}, in plug-in order (see _schema1_form_names)."""
    if _schema1_form_names is None:
        raise SpecError("no schema-1 form names were supplied; import harness.core, which has the registry supply them")
    return _schema1_form_names()


def spec_key(*specs: Any) -> str:
    """A stable 12-hex-digit digest of one or more specs, independent of Python's hash seed; an optimiser form is
    digested under its schema-1 name where it has one (schema1_form_names), so a cell keeps the key it had before."""
    payload = json.dumps([_with_schema1_form_names(spec_to_dict(s)) for s in specs], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _with_schema1_form_names(data: Any) -> Any:
    """`data` (a spec_to_dict) with every OptimizerSpec's form given the first schema-1 name that stands for it (a
    form no schema-1 name stands for keeps its own)."""
    if not isinstance(data, dict):
        return data
    data = {key: _with_schema1_form_names(value) for key, value in data.items()}
    if data.get("name") in OPTIMIZER_FORMS and "form" in data:
        names = (name for name, forms in schema1_form_names().items() if forms.get(data["name"]) == data["form"])
        data["form"] = next(names, data["form"])
    return data


def spec_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a spec dataclass (with nested specs) from `spec_to_dict` output; unknown keys are an error."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SpecError(f"{cls.__name__} has no field(s) {unknown}; valid fields: {', '.join(known)}")
    nested = {
        "init": InitSpec,
        "batch_norm": BatchNormSpec,
        "optimizer": OptimizerSpec,
        "schedule": ScheduleSpec,
        "early_stopping": EarlyStoppingSpec,
    }
    values = {}
    for name, value in data.items():
        target = nested.get(name)
        if target is not None and isinstance(value, dict):
            value = spec_from_dict(target, value)
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    return cls(**values)
