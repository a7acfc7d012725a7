"""One cell's record, typed: what <run>/cells/<key>.json holds. The runner builds and writes it, the report reads
it, tests build their fixtures with it, and `CellRecord.from_json` is the one reader of the stored form: it checks
every field and raises RecordError naming the first problem.

Stored form, schema RECORD_SCHEMA (2): schema, key, variant, framework, seed, dataset, mode (the execution mode,
harness.core.interface.MODES; absent in records written before it was stored, which read back as exact), status
(STATUSES), message,
model_spec and train_spec (the native specs actually run, as harness.core.specs.spec_to_dict gives them; the
train spec without its seed, which the record carries once, at the top), published (Published), eval_split
(EVAL_SPLITS: the set the per-epoch val_* numbers measure), history (EpochRecord fields, one object per epoch),
result (CellResult), timing (CellTiming), hardware (CellHardware: the machine that trained the cell; absent in
records written before it was stored, which read back as None), started_at, finished_at. Non-finite numbers are
stored as null and read back as NaN where the field is a number.

Schema 1 (every record written before schema 2, among them the committed results/*/cells) carried the seed twice,
also as train_spec.seed; it is migrated on load, in memory, and the file is left as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.core.errors import RecordError, SpecError
from harness.core.interface import MODES, EpochRecord

RECORD_SCHEMA = 2
READABLE_SCHEMAS = (1, RECORD_SCHEMA)
STATUSES = ("ok", "diverged", "failed", "unavailable")
"""ok: trained and tested; diverged: a non-finite loss; failed: an exception (the message says which);
unavailable: the framework cannot be imported here."""
EVAL_SPLITS = ("test", "validation")
OPTIONAL_FIELDS = frozenset({"hardware", "mode"})
"""Stored fields a record may lack: added to the stored form after records without them were written."""
PUBLISHED_METRICS = ("test_accuracy", "validation_accuracy")
"""What a published number measures: the final test accuracy, or the final validation accuracy (last epoch's, or
the restored best epoch's) for cells whose per-epoch evaluation is on a validation split."""


@dataclass(frozen=True)
class Published:
    """A number a source document printed: an accuracy in [0, 1], where it comes from, and how to read it."""

    value: float
    source: str
    note: str = ""
    metric: str = "test_accuracy"
    illustrative: bool = False
    """True when the document gives no setup that can reproduce the number: shown apart, never counted as
    reproduced or missed."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise SpecError(f"Published.value={self.value} is an accuracy fraction; write 0.9735, not 97.35")
        if self.metric not in PUBLISHED_METRICS:
            raise SpecError(f"Published.metric={self.metric!r}; choose one of: {', '.join(PUBLISHED_METRICS)}")

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric": self.metric,
            "source": self.source,
            "note": self.note,
            "illustrative": self.illustrative,
        }


@dataclass(frozen=True)
class CellResult:
    """The trained model on the test set. test_loss is NaN when it was not finite (a diverged cell)."""

    test_loss: float
    test_accuracy: float
    epochs_run: int
    stopped_early: bool = False
    best_epoch: int | None = None
    """The 0-based epoch whose weights were kept when early stopping restored the best; else None."""


@dataclass(frozen=True)
class CellTiming:
    """Seconds, read after the device was synchronised. The first epoch (tracing and compilation included) is
    kept apart from the median of the later ones (None with one epoch)."""

    build_s: float
    first_epoch_s: float
    steady_epoch_median_s: float | None
    eval_median_s: float | None
    samples_per_s: float | None
    threads: int
    device: str
    contended_epochs: int | None = None
    """Epochs timed while other processes used the CPU (harness.core.load); None in records written before that
    was measured."""
    target_accuracy: float | None = None
    """The matrix's target accuracy (time to accuracy); None when it names none."""
    time_to_target_s: float | None = None
    """Build time plus every training epoch up to the first whose evaluation accuracy reached target_accuracy
    (harness.run.runner.time_to_target); None when none did."""
    target_epoch: int | None = None
    """That epoch, 1-based; None when none reached the target."""
    epoch_gemm_flops: int | None = None
    """The GEMM FLOPs of one training epoch (harness.run.gemm): with the peak GEMM rate in environment.json, the
    machine limit of an epoch. None in records written before it was stored."""


@dataclass(frozen=True)
class CellHardware:
    """The machine a cell trained on, read there (an executor may train cells on other machines than the one that
    writes the run directory): timings compare only between cells on the same hardware."""

    cpu_model: str
    gpu_model: str | None
    threads: int

    def label(self, device: str) -> str:
        """What a cell's times depend on: the CPU model, and the GPU model when it trained on CUDA."""
        on_gpu = device.startswith("cuda") and self.gpu_model
        return f"{self.cpu_model} + {self.gpu_model}" if on_gpu else self.cpu_model


@dataclass(frozen=True)
class CellRecord:
    """One cell: its identity, what ran, what it measured. `status` ok needs a result and a timing."""

    key: str
    variant: str
    framework: str
    seed: int
    dataset: str
    eval_split: str
    mode: str = "exact"
    """The execution mode the cell trained in (harness.core.interface.MODES)."""
    status: str = "ok"
    message: str | None = None
    model_spec: dict[str, Any] | None = None
    train_spec: dict[str, Any] | None = None
    published: Published | None = None
    history: tuple[EpochRecord, ...] = ()
    result: CellResult | None = None
    timing: CellTiming | None = None
    hardware: CellHardware | None = None
    started_at: str | None = None
    finished_at: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise RecordError(f"has seed={self.seed!r}; a seed is an integer")
        if self.status not in STATUSES:
            raise RecordError(f"has status {str(self.status)[:40]!r}; valid statuses: {', '.join(STATUSES)}")
        if self.mode not in MODES:
            raise RecordError(f"has mode {str(self.mode)[:40]!r}; valid modes: {', '.join(MODES)}")
        if self.eval_split not in EVAL_SPLITS:
            raise RecordError(f"has eval_split {self.eval_split!r}; valid splits: {', '.join(EVAL_SPLITS)}")
        if self.status == "ok" and (self.result is None or self.timing is None):
            raise RecordError("has status ok without a result and a timing")
        if self.train_spec is not None and "seed" in self.train_spec:
            raise RecordError("carries its seed twice (train_spec.seed); the record's seed is the cell's")

    @property
    def epochs(self) -> int | None:
        """The length the cell was set to train (TrainSpec.epochs), None when no spec was recorded."""
        return (self.train_spec or {}).get("epochs")

    @property
    def loss(self) -> str:
        return str((self.model_spec or {}).get("loss", ""))

    def final_validation_accuracy(self) -> float:
        """The validation accuracy of the weights the cell ended with: the best evaluated epoch's when early
        stopping restored it, else the last epoch's; NaN when the per-epoch evaluation was not on a validation
        split."""
        if self.eval_split != "validation" or not self.history:
            return math.nan
        stopping = (self.train_spec or {}).get("early_stopping") or {}
        best_epoch = self.result.best_epoch if self.result else None
        restored = stopping.get("enabled") and stopping.get("restore_best") and best_epoch is not None
        last = self.history[-1]
        epoch = next((e for e in self.history if e.epoch == best_epoch), last) if restored else last
        return math.nan if epoch.val_accuracy is None else float(epoch.val_accuracy)

    def to_json(self) -> dict[str, Any]:
        """The stored form (schema RECORD_SCHEMA), non-finite numbers as null."""
        return {
            "schema": RECORD_SCHEMA,
            "key": self.key,
            "variant": self.variant,
            "framework": self.framework,
            "seed": self.seed,
            "dataset": self.dataset,
            "mode": self.mode,
            "status": self.status,
            "message": self.message,
            "model_spec": self.model_spec,
            "train_spec": self.train_spec,
            "published": self.published.to_json() if self.published else None,
            "eval_split": self.eval_split,
            "history": [_finite_numbers(asdict(epoch)) for epoch in self.history],
            "result": _finite_numbers(asdict(self.result)) if self.result else None,
            "timing": _finite_numbers(asdict(self.timing)) if self.timing else None,
            "hardware": asdict(self.hardware) if self.hardware else None,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> CellRecord:
        """Check and read a stored record of any READABLE_SCHEMAS (RecordError naming the first problem)."""
        if not isinstance(data, dict):
            raise RecordError(f"holds a {type(data).__name__}, not a JSON object")
        schema = data.get("schema")
        if isinstance(schema, bool) or schema not in READABLE_SCHEMAS:
            readable = " and ".join(map(str, READABLE_SCHEMAS))
            raise RecordError(f"has schema {schema!r}; this fwcompare reads schema {readable}")
        data = migrate(data)
        stored = {f.name for f in fields(cls)} | {"schema"}
        _require_fields(data, stored - OPTIONAL_FIELDS, "")
        unknown = sorted(set(data) - stored)
        if unknown:
            raise RecordError(f"has unknown field(s) {', '.join(unknown)}")
        status = data["status"]
        history = data["history"]
        if not isinstance(history, list) or not all(isinstance(epoch, dict) and "epoch" in epoch for epoch in history):
            raise RecordError("has a 'history' that is not a list of epoch records with an 'epoch' field")
        for name in ("model_spec", "train_spec"):
            if data[name] is not None and not isinstance(data[name], dict):
                raise RecordError(f"has a {name} that is not a JSON object")
        return cls(
            key=_text(data, "key", ""),
            variant=_text(data, "variant", ""),
            framework=_text(data, "framework", ""),
            seed=data["seed"],
            dataset=_text(data, "dataset", ""),
            eval_split=data["eval_split"],
            mode=_text(data, "mode", "") if "mode" in data else "exact",
            status=status,
            message=None if data["message"] is None else str(data["message"]),
            model_spec=data["model_spec"],
            train_spec=data["train_spec"],
            published=_published(data["published"]),
            history=tuple(_epoch(epoch) for epoch in history),
            result=_result(data["result"], required=status == "ok"),
            timing=_timing(data["timing"], required=status == "ok"),
            hardware=_hardware(data.get("hardware")),
            started_at=data["started_at"],
            finished_at=data["finished_at"],
        )


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A stored record of an older schema in the current stored form (a new dict; `data` is not changed)."""
    if data.get("schema") != 1:
        return data
    migrated = {**data, "schema": RECORD_SCHEMA}
    train_spec = data.get("train_spec")
    if isinstance(train_spec, dict) and "seed" in train_spec:
        if train_spec["seed"] != data.get("seed"):
            raise RecordError(f"has train_spec.seed={train_spec['seed']!r} but seed={data.get('seed')!r}")
        migrated["train_spec"] = train_spec_without_seed(train_spec)
    return migrated


def train_spec_without_seed(train_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec_to_dict(TrainSpec) as a record stores it: the seed is the record's own field."""
    return {name: value for name, value in train_spec.items() if name != "seed"}


def _finite_numbers(values: dict[str, Any]) -> dict[str, Any]:
    return {
        name: None if isinstance(value, float) and not math.isfinite(value) else value for name, value in values.items()
    }


def _require_fields(data: Mapping[str, Any], names: Iterable[str], prefix: str) -> None:
    missing = [prefix + name for name in sorted(names) if name not in data]
    if missing:
        raise RecordError(f"lacks field(s) {', '.join(missing)}")


def _text(data: Mapping[str, Any], name: str, prefix: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise RecordError(f"has {prefix}{name}={value!r}; it must be a string")
    return value


def _optional_number(data: Mapping[str, Any], name: str, prefix: str) -> float | None:
    """data[name] as a float, None when null or absent."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"has non-numeric {prefix}{name}={value!r}")
    return float(value)


def _number(data: Mapping[str, Any], name: str, prefix: str, *, null_is_nan: bool) -> float:
    """data[name] as a float; null is NaN (a non-finite number stored) when `null_is_nan`, else an error."""
    value = _optional_number(data, name, prefix)
    if value is not None:
        return value
    if null_is_nan:
        return math.nan
    raise RecordError(f"has non-numeric {prefix}{name}=None")


def _optional_integer(data: Mapping[str, Any], name: str, prefix: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"has {prefix}{name}={value!r}; it must be a whole number")
    return value


def _integer(data: Mapping[str, Any], name: str, prefix: str) -> int:
    value = _optional_integer(data, name, prefix)
    if value is None:
        raise RecordError(f"has {prefix}{name}=None; it must be a whole number")
    return value


def _epoch(data: dict[str, Any]) -> EpochRecord:
    known = {f.name for f in fields(EpochRecord)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RecordError(f"has unknown history field(s) {', '.join(unknown)}")
    _require_fields(data, ("epoch", "train_loss", "train_time_s", "lr"), "history.")
    contended = data.get("contended")
    return EpochRecord(
        epoch=_integer(data, "epoch", "history."),
        train_loss=_number(data, "train_loss", "history.", null_is_nan=True),
        train_time_s=_number(data, "train_time_s", "history.", null_is_nan=True),
        lr=_number(data, "lr", "history.", null_is_nan=True),
        val_loss=_optional_number(data, "val_loss", "history."),
        val_accuracy=_optional_number(data, "val_accuracy", "history."),
        eval_time_s=_optional_number(data, "eval_time_s", "history."),
        others_cpu_share=_optional_number(data, "others_cpu_share", "history."),
        contended=None if contended is None else bool(contended),
    )


def _published(data: Any) -> Published | None:
    if not data:
        return None
    if not isinstance(data, dict):
        raise RecordError("has a 'published' that is not a JSON object")
    _require_fields(data, ("value", "source"), "published.")
    unknown = sorted(set(data) - {f.name for f in fields(Published)})
    if unknown:
        raise RecordError(f"has unknown published field(s) {', '.join(unknown)}")
    try:
        return Published(
            value=_number(data, "value", "published.", null_is_nan=False),
            source=str(data["source"]),
            note=str(data.get("note") or ""),
            metric=str(data.get("metric", "test_accuracy")),
            illustrative=bool(data.get("illustrative", False)),
        )
    except SpecError as error:
        raise RecordError(f"has a published number that is not valid: {error}") from error


def _result(data: Any, *, required: bool) -> CellResult | None:
    """The result of a stored record; an ok record's must hold a finite test loss and accuracy."""
    if data is None and not required:
        return None
    if not isinstance(data, dict):
        raise RecordError("lacks field(s) result" if data is None else "has a 'result' that is not a JSON object")
    _require_fields(data, ("test_accuracy", "test_loss", "epochs_run"), "result.")
    return CellResult(
        test_loss=_number(data, "test_loss", "result.", null_is_nan=not required),
        test_accuracy=_number(data, "test_accuracy", "result.", null_is_nan=not required),
        epochs_run=_integer(data, "epochs_run", "result."),
        stopped_early=bool(data.get("stopped_early", False)),
        best_epoch=_optional_integer(data, "best_epoch", "result."),
    )


def _timing(data: Any, *, required: bool) -> CellTiming | None:
    """The timing of a stored record; an ok record's must hold its build, first-epoch and throughput numbers."""
    if data is None and not required:
        return None
    if not isinstance(data, dict):
        raise RecordError("lacks field(s) timing" if data is None else "has a 'timing' that is not a JSON object")
    names = ("build_s", "first_epoch_s", "steady_epoch_median_s", "eval_median_s", "samples_per_s")
    _require_fields(data, (*names, "threads", "device"), "timing.")
    samples_per_s = _optional_number(data, "samples_per_s", "timing.")
    if required and samples_per_s is None:
        raise RecordError("has non-numeric timing.samples_per_s=None")
    return CellTiming(
        build_s=_number(data, "build_s", "timing.", null_is_nan=not required),
        first_epoch_s=_number(data, "first_epoch_s", "timing.", null_is_nan=not required),
        steady_epoch_median_s=_optional_number(data, "steady_epoch_median_s", "timing."),
        eval_median_s=_optional_number(data, "eval_median_s", "timing."),
        samples_per_s=samples_per_s,
        threads=_integer(data, "threads", "timing."),
        device=_text(data, "device", "timing."),
        contended_epochs=_optional_integer(data, "contended_epochs", "timing."),
        target_accuracy=_optional_number(data, "target_accuracy", "timing."),
        time_to_target_s=_optional_number(data, "time_to_target_s", "timing."),
        target_epoch=_optional_integer(data, "target_epoch", "timing."),
        epoch_gemm_flops=_optional_integer(data, "epoch_gemm_flops", "timing."),
    )


def _hardware(data: Any) -> CellHardware | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise RecordError("has a 'hardware' that is not a JSON object")
    _require_fields(data, ("cpu_model", "gpu_model", "threads"), "hardware.")
    gpu_model = data["gpu_model"]
    return CellHardware(
        cpu_model=_text(data, "cpu_model", "hardware."),
        gpu_model=None if gpu_model is None else _text(data, "gpu_model", "hardware."),
        threads=_integer(data, "threads", "hardware."),
    )
