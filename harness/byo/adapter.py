"""The adapter protocol: the least a user writes to have their own network checked and trained by fwcompare.

An adapter is a plain class; it needs no fwcompare base class:

    class MyAdapter:
        def __init__(self, model_spec, train_spec, params): ...
            # build the network from canonical weights (harness.core.params: dense{i}.W is (fan_in, fan_out))
        def forward(self, x, training, dropout_masks): ...
            # logits (n, output_size); no state change
        def loss_and_grads(self, x, y, dropout_masks): ...
            # (training-mode loss including the L2 term, {trainable canonical key: gradient}); no update
        def train_step(self, x, y, dropout_masks, lr): ...
            # one optimiser step at learning rate lr (BN running statistics updated); returns the batch loss
        def get_params(self): ...
            # {canonical key: array}, BN running statistics included

x is (n, input_size) in train_spec.dtype, y (n,) int64 class indices, dropout_masks None or {"dropout{i}":
(n, width) 0/1 keep-masks} to use instead of random ones (harness.core.interface).

Optional members: `name` (the framework name in tables; default the class name), `optimizer_form` (which update
rule of momentum/Adam/AdaGrad/RMSProp it implements, harness.core.specs.OPTIMIZER_FORMS: a dict {optimiser: rule
form}, optimisers left out running their first form, or a registered framework's name for the forms that framework
runs natively; default: every optimiser's first form),
`bn_running_var` ('unbiased' or 'biased'; default 'unbiased'), `activations(x, training, dropout_masks)` (every
layer's output by canonical key, for a per-layer comparison; default: logits only), `optimizer_state()` (slots
keyed '<param key>/<slot>'), and `unsupported(model_spec, train_spec)`, a staticmethod returning why a variant is
out of its reach (or None), so parity skips that variant instead of failing it.

`adapter_model` turns an adapter into a full FrameworkModel: the fast epoch is train_step over the batches,
evaluation is forward in chunks with the spec's loss, set_params rebuilds the adapter. Every call into user code
runs under a time limit and every result is checked (keys, shapes, finite values); a problem becomes an
ImplementationError naming the user's file and line.
"""

from __future__ import annotations

import inspect
import signal
import sysconfig
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

import harness
from harness.core.batching import batch_slices, slice_masks
from harness.core.errors import ImplementationError, NonFiniteOutputError
from harness.core.frameworks import model_class, plugins, reference_name
from harness.core.interface import FrameworkModel, Masks, Params
from harness.core.names import BadNameError, check_name
from harness.core.params import check_params, param_shapes, trainable_keys
from harness.core.specs import (
    OPTIMIZER_FORMS,
    RUNNING_VAR_CONVENTIONS,
    ModelSpec,
    TrainSpec,
)

REQUIRED_METHODS: dict[str, str] = {
    "forward": "forward(self, x, training, dropout_masks) -> logits (n, output_size)",
    "loss_and_grads": "loss_and_grads(self, x, y, dropout_masks) -> (loss, {trainable canonical key: gradient})",
    "train_step": "train_step(self, x, y, dropout_masks, lr) -> batch loss, after one optimiser step",
    "get_params": "get_params(self) -> {canonical key: array}",
}
DEFAULT_TIME_LIMIT_S = 60.0
"""Seconds one call into user code may take (a step, a forward pass) before it counts as hanging."""
EVAL_CHUNK_ROWS = 8192


def definition_site(obj: Any) -> str:
    """'file:line' where a class or function is defined, or its qualified name when Python cannot tell."""
    try:
        return f"{inspect.getsourcefile(obj)}:{inspect.getsourcelines(obj)[1]}"
    except (OSError, TypeError):
        return getattr(obj, "__qualname__", repr(obj))


_LIBRARY_DIRS = tuple(
    str(Path(p).resolve())
    for p in {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(harness.__file__).parent)}
)


def raise_site(error: BaseException) -> str:
    """'file:line in function' of the innermost frame of `error`'s traceback in user code (outside fwcompare,
    the standard library and installed packages), else of the innermost frame."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    user = [f for f in frames if not str(Path(f.filename).resolve()).startswith(_LIBRARY_DIRS)]
    frame = (user or frames)[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


class _TimeLimitReached(Exception):
    """Raised inside a user call by the timer's signal handler."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise _TimeLimitReached where the code inside is running after `seconds` (a SIGALRM timer).

    A signal reaches only the main thread, and only between Python bytecodes: elsewhere, or inside one long C call
    (a huge matrix product), the limit is not enforced.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _TimeLimitReached

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_adapter(adapter_cls: type, source: str) -> None:
    """Raise ImplementationError unless `adapter_cls` has the protocol's methods and valid optional attributes."""
    where = f"{adapter_cls.__name__} ({definition_site(adapter_cls)})"
    missing = [sig for name, sig in REQUIRED_METHODS.items() if not callable(getattr(adapter_cls, name, None))]
    if missing:
        raise ImplementationError(
            f"{where} from {source} lacks {len(missing)} method(s) of the adapter protocol: {'; '.join(missing)} "
            "(see harness/byo/adapter.py and examples/byo/)"
        )
    try:
        check_name("adapter name", getattr(adapter_cls, "name", adapter_cls.__name__))
    except BadNameError as error:
        raise ImplementationError(f"{where}: {error}") from None
    running_var = getattr(adapter_cls, "bn_running_var", RUNNING_VAR_CONVENTIONS[0])
    if running_var not in RUNNING_VAR_CONVENTIONS:
        raise ImplementationError(
            f"{where}: bn_running_var={running_var!r} is not one of {', '.join(RUNNING_VAR_CONVENTIONS)}"
        )
    optimizer_forms(adapter_cls, where)


def optimizer_forms(impl_cls: type, where: str = "") -> dict[str, str]:
    """{optimiser: rule form} of harness.core.specs.OPTIMIZER_FORMS that `impl_cls`'s `optimizer_form` names
    (module docstring); ImplementationError, naming `where`, for a name or form that is not there."""
    declared = getattr(impl_cls, "optimizer_form", {})
    where = where or f"{impl_cls.__name__} ({definition_site(impl_cls)})"
    # The forms each framework runs natively; the reference runs every form, so its name says nothing.
    native = {name: plugin.optimizer_forms for name, plugin in plugins().items() if not plugin.runs_every_form}
    if isinstance(declared, str):
        if declared not in native:
            raise ImplementationError(
                f"{where}: optimizer_form={declared!r} is not one of {', '.join(native)}; or give a "
                "dict {optimiser: form} of harness.core.specs.OPTIMIZER_FORMS"
            )
        return dict(native[declared])
    if not isinstance(declared, dict):
        raise ImplementationError(
            f"{where}: optimizer_form is a {type(declared).__name__}; give a framework's name or a dict"
        )
    wrong = [
        f"{name!r}: {form!r}" + (f" (one of {', '.join(OPTIMIZER_FORMS[name])})" if name in OPTIMIZER_FORMS else "")
        for name, form in declared.items()
        if form not in OPTIMIZER_FORMS.get(name, ())
    ]
    if wrong:
        raise ImplementationError(
            f"{where}: optimizer_form has {'; '.join(wrong)}; the optimisers are {', '.join(OPTIMIZER_FORMS)}"
        )
    return {name: declared.get(name, forms[0]) for name, forms in OPTIMIZER_FORMS.items()}


def running_var(impl_cls: type) -> str:
    """The BN running-variance convention `impl_cls` says its network keeps."""
    return str(getattr(impl_cls, "bn_running_var", RUNNING_VAR_CONVENTIONS[0]))


def adapter_model(
    adapter_cls: type, source: str, time_limit_s: float | None = DEFAULT_TIME_LIMIT_S
) -> type[FrameworkModel]:
    """A FrameworkModel class around `adapter_cls` (checked first), named by its `name` or class name; `source`
    (e.g. 'examples/byo/adapter.py:ScratchAdapter') appears in messages."""
    check_adapter(adapter_cls, source)
    name = getattr(adapter_cls, "name", adapter_cls.__name__)
    return type(
        f"{adapter_cls.__name__}Model",
        (AdapterModel,),
        {"framework": name, "adapter_cls": adapter_cls, "source": source, "time_limit_s": time_limit_s},
    )


class AdapterModel(FrameworkModel):
    """A user's adapter as a FrameworkModel; subclasses made by `adapter_model` fill in the class variables."""

    adapter_cls: ClassVar[type]
    source: ClassVar[str]
    time_limit_s: ClassVar[float | None]

    def __init__(
        self,
        model_spec: ModelSpec,
        train_spec: TrainSpec,
        params: Params,
        *,
        device: str = "cpu",
        steps_per_epoch: int = 1,
    ) -> None:
        # A user's NumPy network runs where it runs; `device` concerns the frameworks that place tensors.
        super().__init__(model_spec, train_spec, params, device=device, steps_per_epoch=steps_per_epoch)
        self.dtype = np.dtype(train_spec.dtype)
        self.steps_done = 0
        self._adapter = self._build(params)

    @classmethod
    def unsupported(cls, model_spec: ModelSpec, train_spec: TrainSpec) -> str | None:
        """Why the adapter cannot run these specs (its own `unsupported`), or None."""
        check = getattr(cls.adapter_cls, "unsupported", None)
        return None if check is None else cls._call(check, "unsupported", model_spec, train_spec)

    # --- calls into user code ----------------------------------------------------------------------------------

    @classmethod
    def _label(cls, method: str) -> str:
        target = getattr(cls.adapter_cls, method, cls.adapter_cls)
        return f"{cls.adapter_cls.__name__}.{method} ({definition_site(target)})"

    @classmethod
    def _call(cls, function: Callable[..., Any], method: str, *args: Any) -> Any:
        """function(*args) under the time limit; any exception becomes one ImplementationError with its site."""
        try:
            with time_limit(cls.time_limit_s):
                return function(*args)
        except _TimeLimitReached as error:
            raise ImplementationError(
                f"{cls._label(method)} did not return within {cls.time_limit_s:g} s; it was running at "
                f"{raise_site(error)} (a loop that never ends? raise the limit with --impl-time-limit)"
            ) from None
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else ""
            raise ImplementationError(
                f"{cls._label(method)} raised {type(error).__name__}: {message} at {raise_site(error)}"
            ) from error

    def _method(self, method: str, *args: Any) -> Any:
        return self._call(getattr(self._adapter, method), method, *args)

    def _build(self, params: Params) -> Any:
        check_params(self.model_spec, params)
        copies = {key: np.array(value, dtype=self.dtype) for key, value in params.items()}
        return self._call(self.adapter_cls, "__init__", self.model_spec, self.train_spec, copies)

    # --- checks on what user code returns ----------------------------------------------------------------------

    def _checked_arrays(self, method: str, what: str, got: Any, expected: dict[str, tuple[int, ...]]) -> Params:
        """`got` as {key: float64-comparable array} with exactly `expected`'s keys and shapes, or an error."""
        if not isinstance(got, dict):
            raise ImplementationError(f"{self._label(method)} returned {type(got).__name__} for {what}; return a dict")
        missing, extra = [k for k in expected if k not in got], sorted(set(got) - set(expected))
        if missing or extra:
            raise ImplementationError(
                f"{self._label(method)} returned {what} with missing keys {missing} and unexpected keys {extra}; "
                f"the canonical keys are {list(expected)} (harness.core.params)"
            )
        arrays = {key: np.asarray(got[key]) for key in expected}
        wrong = [
            f"{key}: got {arrays[key].shape}, want {shape}"
            + (" (the transpose: canonical kernels are (fan_in, fan_out))" if arrays[key].shape == shape[::-1] else "")
            for key, shape in expected.items()
            if arrays[key].shape != shape
        ]
        if wrong:
            raise ImplementationError(f"{self._label(method)} returned {what} of the wrong shape: {'; '.join(wrong)}")
        return arrays

    def _check_finite(self, method: str, what: str, arrays: dict[str, np.ndarray]) -> None:
        bad = [key for key, value in arrays.items() if not np.isfinite(value).all()]
        if bad:
            raise NonFiniteOutputError(
                f"{self._label(method)} returned NaN or infinity in {what} {', '.join(bad)} where the inputs were "
                "finite (an overflow: exp of a large number? a division by zero?)"
            )

    def _input(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=self.dtype)

    # --- FrameworkModel ------------------------------------------------------------------------------------------

    def activations(self, x: np.ndarray, training: bool, dropout_masks: Masks = None) -> dict[str, np.ndarray]:
        x = self._input(x)
        if not callable(getattr(self._adapter, "activations", None)):
            return {"logits": self.forward(x, training, dropout_masks)}
        outputs = self._method("activations", x, training, dropout_masks)
        if not isinstance(outputs, dict) or "logits" not in outputs:
            raise ImplementationError(f"{self._label('activations')} must return a dict with at least 'logits'")
        arrays = {key: np.asarray(value) for key, value in outputs.items()}
        wrong = [key for key, value in arrays.items() if value.ndim != 2 or len(value) != len(x)]
        if wrong:
            raise ImplementationError(
                f"{self._label('activations')} returned {', '.join(wrong)} not of shape (n={len(x)}, width)"
            )
        self._check_finite("activations", "the activations", arrays)
        return arrays

    def forward(self, x: np.ndarray, training: bool = False, dropout_masks: Masks = None) -> np.ndarray:
        x = self._input(x)
        logits = np.asarray(self._method("forward", x, training, dropout_masks))
        want = (len(x), self.model_spec.output_size)
        if logits.shape != want:
            raise ImplementationError(f"{self._label('forward')} returned logits of shape {logits.shape}; want {want}")
        self._check_finite("forward", "the logits", {"logits": logits})
        return logits

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> tuple[float, Params]:
        result = self._method("loss_and_grads", self._input(x), np.asarray(y, np.int64), dropout_masks)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise ImplementationError(f"{self._label('loss_and_grads')} must return a pair (loss, gradients)")
        loss, grads = result
        shapes = param_shapes(self.model_spec)
        arrays = self._checked_arrays(
            "loss_and_grads", "gradients", grads, {key: shapes[key] for key in trainable_keys(self.model_spec)}
        )
        self._check_finite("loss_and_grads", "the loss and gradients", {"loss": np.asarray(loss), **arrays})
        return float(loss), arrays

    def train_step(self, x: np.ndarray, y: np.ndarray, dropout_masks: Masks = None) -> float:
        lr = self.learning_rate(self.steps_done)
        loss = self._method("train_step", self._input(x), np.asarray(y, np.int64), dropout_masks, lr)
        self.steps_done += 1
        # Not checked for NaN here: a loss that diverges in training is fit's DivergedError, as for any framework.
        return float(loss)

    def get_params(self) -> Params:
        arrays = self._checked_arrays(
            "get_params", "parameters", self._method("get_params"), param_shapes(self.model_spec)
        )
        return {key: value.copy() for key, value in arrays.items()}

    def set_params(self, params: Params) -> None:
        """Rebuild the adapter from `params`: its optimiser starts afresh (the learning-rate clock does not)."""
        self._adapter = self._build(params)

    def optimizer_state(self) -> Params:
        if not callable(getattr(self._adapter, "optimizer_state", None)):
            return {}
        return {key: np.asarray(value) for key, value in self._method("optimizer_state").items()}

    def train_epoch(self, data: Any, order: np.ndarray, dropout_masks: Masks = None) -> float:
        x, y = data
        total, count = 0.0, 0
        for rows in batch_slices(len(order), self.train_spec.batch_size):
            batch = order[rows]
            total += self.train_step(x[batch], y[batch], slice_masks(dropout_masks, rows)) * len(batch)
            count += len(batch)
        return total / count

    def evaluate(self, data: Any) -> tuple[float, float]:
        # The spec's loss applied to the user's logits by the reference itself (reached through the registry), so
        # the evaluation reports what the network computes, measured the same way for every framework: a reference
        # network of one Dense layer with identity weights and zero bias, whose logits are its input exactly.
        x, y = data
        spec = self.model_spec
        width = spec.output_size
        logits = np.concatenate([self.forward(x[rows], False, None) for rows in batch_slices(len(x), EVAL_CHUNK_ROWS)])
        head_spec = replace(spec, input_size=width, hidden_sizes=(), dropout=(), batch_norm=None, l2=0.0)
        identity = {"dense0.W": np.eye(width, dtype=logits.dtype), "dense0.b": np.zeros(width, logits.dtype)}
        head = model_class(reference_name())(head_spec, self.train_spec, identity)
        loss, accuracy = head.evaluate((logits, y))
        if spec.l2 > 0:  # l2·Σ‖W‖² over the dense kernels, as harness.core.specs.ModelSpec.l2 defines it
            kernels = [value for key, value in self.get_params().items() if key.endswith(".W")]
            loss += spec.l2 * sum(float(np.square(kernel).sum()) for kernel in kernels)
        return loss, accuracy


def is_adapter_model(model_cls: type) -> bool:
    """Whether `model_cls` wraps a user's adapter."""
    return isinstance(model_cls, type) and issubclass(model_cls, AdapterModel)
