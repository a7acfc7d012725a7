"""User matrices from TOML files (see examples/matrix.toml). A file has the fields of a Matrix:

    name, description, dataset, scaling, validation, frameworks, seeds (a count from 0, or a list), epochs,
    target_accuracy (the evaluation accuracy whose time to reach every cell records), mode (exact | fast),
    variants = [registered names],
    [[variant]] name, base (a registered or earlier variant), description, model = {...}, train = {...},
                published = {value, source, note, metric, illustrative},
    [[grid]]    base, name (prefix of the generated names), axes = {"model.activation" = [...], ...}

Every unknown key or value is an error that lists what is valid.
"""

from __future__ import annotations

import itertools
import math
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from harness.catalog.matrix import DEFAULT_SEEDS, Matrix, Row
from harness.catalog.variants import Variant, get_variant
from harness.core.errors import FwcompareError, MatrixFileError, SpecError
from harness.core.frameworks import default_framework_names
from harness.core.names import check_name, check_text
from harness.core.record import Published
from harness.core.specs import ModelSpec, TrainSpec, spec_from_dict, spec_to_dict

MATRIX_KEYS = (
    "name",
    "description",
    "dataset",
    "scaling",
    "validation",
    "frameworks",
    "seeds",
    "epochs",
    "target_accuracy",
    "mode",
    "variants",
    "variant",
    "grid",
)
VARIANT_KEYS = ("name", "base", "description", "model", "train", "published")
GRID_KEYS = ("base", "name", "axes")
PUBLISHED_KEYS = ("value", "source", "note", "metric", "illustrative")
SPEC_SECTIONS = {"model": ModelSpec, "train": TrainSpec}
# A blank model spec for a [[variant]] without a base; the input and output sizes follow the data set at run time.
BLANK_MODEL = {"input_size": 784, "hidden_sizes": [], "output_size": 10}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def load_matrix_file(path: Path | str) -> Matrix:
    """Read a TOML matrix file; every problem is a MatrixFileError (or SpecError) naming the key and what is valid."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise MatrixFileError(f"matrix file {path} does not exist; see examples/matrix.toml for the format") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MatrixFileError(f"{path} is not valid TOML: {error}") from error
    try:
        return matrix_from_dict(data, default_name=path.stem, source=str(path))
    except (SpecError, FwcompareError) as error:
        raise MatrixFileError(f"{path}: {error}") from error


def matrix_from_dict(data: dict[str, Any], *, default_name: str, source: str) -> Matrix:
    """A Matrix from the parsed TOML (see the module docstring for the fields)."""
    _require_keys("the matrix", data, MATRIX_KEYS)
    defined: dict[str, Row] = {}
    for name in _typed(data, "variants", list, []):
        defined[name] = Row(get_variant(str(name)))
    for table in _typed(data, "variant", list, []):
        row = _variant_row(table, defined)
        defined[row.variant.name] = row
    for table in _typed(data, "grid", list, []):
        for row in _grid_rows(table, defined):
            defined[row.variant.name] = row
    if not defined:
        raise MatrixFileError("the matrix names no variants; add `variants = [...]`, [[variant]] or [[grid]] tables")
    seeds = data.get("seeds", len(DEFAULT_SEEDS))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise MatrixFileError(f"seeds = {seeds}: give a count >= 1 or a list of seeds")
        seeds = list(range(seeds))
    if not isinstance(seeds, list) or not all(isinstance(seed, int) for seed in seeds):
        raise MatrixFileError(f"seeds = {seeds!r}: give a count (seeds = 3) or a list of integers (seeds = [0, 7])")
    epochs = data.get("epochs")
    if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool)):
        raise MatrixFileError(f"epochs = {epochs!r}: give a whole number of epochs")
    target = data.get("target_accuracy")
    if target is not None and (not isinstance(target, int | float) or isinstance(target, bool)):
        raise MatrixFileError(f"target_accuracy = {target!r}: give an accuracy fraction such as 0.97")
    return Matrix(
        name=check_name("matrix name", data.get("name", _SAFE_NAME.sub("_", default_name))),
        description=check_text("the matrix description", str(data.get("description", ""))),
        rows=tuple(defined.values()),
        frameworks=tuple(_typed(data, "frameworks", list, list(default_framework_names()))),
        seeds=tuple(seeds),
        dataset=str(data.get("dataset", "mnist")),
        scaling=str(data.get("scaling", "unit")),
        validation=str(data.get("validation", "none")),
        epochs=epochs,
        target_accuracy=None if target is None else float(target),
        mode=str(data.get("mode", "exact")),
        source=source,
    )


def _require_keys(where: str, table: dict[str, Any], valid: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise MatrixFileError(f"{where} has unknown key(s) {unknown}; valid keys: {', '.join(valid)}")


def _typed(table: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if not isinstance(value, kind):
        raise MatrixFileError(f"{key} must be a {kind.__name__}, not {type(value).__name__} ({value!r})")
    return value


def _base_variant(name: str, defined: dict[str, Row]) -> Variant:
    """A variant defined earlier in the file, else a registered one."""
    return defined[name].variant if name in defined else get_variant(name)


def _variant_row(table: dict[str, Any], defined: dict[str, Row]) -> Row:
    """One [[variant]] table: a base (or a blank MLP) with model/train fields replaced, and its published number."""
    _require_keys("a [[variant]] table", table, VARIANT_KEYS)
    if "name" not in table:
        raise MatrixFileError('a [[variant]] table has no name; every variant needs `name = "..."`')
    name = check_name("variant name", table["name"])
    where = f"variant {name!r}"
    base = _base_variant(str(table["base"]), defined) if "base" in table else None
    specs = {
        "model": spec_to_dict(base.model) if base else dict(BLANK_MODEL),
        "train": spec_to_dict(base.train) if base else spec_to_dict(TrainSpec()),
    }
    for section, cls in SPEC_SECTIONS.items():
        changes = _typed(table, section, dict, {})
        specs[section] = _merged(specs[section], changes, f"{where} {section}", cls)
    default_description = f"user variant{f' based on {base.name}' if base else ''}"
    variant = Variant(
        name=name,
        description=check_text(f"{where} description", str(table.get("description", default_description))),
        model=spec_from_dict(ModelSpec, specs["model"]),
        train=spec_from_dict(TrainSpec, specs["train"]),
    )
    published = None
    if "published" in table:
        values = _typed(table, "published", dict, {})
        _require_keys(f"{where} published", values, PUBLISHED_KEYS)
        if "value" not in values:
            raise MatrixFileError(f"{where} published has no value; write published = {{ value = 0.97, ... }}")
        published = Published(
            value=float(values["value"]),
            source=check_text(f"{where} published source", str(values.get("source", "user"))),
            note=check_text(f"{where} published note", str(values.get("note", ""))),
            metric=str(values.get("metric", "test_accuracy")),
            illustrative=bool(values.get("illustrative", False)),
        )
    return Row(variant, published)


def _merged(base: dict[str, Any], changes: dict[str, Any], where: str, cls: type) -> dict[str, Any]:
    """`base` (a spec_to_dict) with `changes` applied, nested specs merged field by field.

    `batch_norm = false` removes batch norm and `batch_norm = true` adds the default one (TOML has no null).
    """
    merged = dict(base)
    valid = [f.name for f in fields(cls)]
    for key, value in changes.items():
        if key not in valid:
            raise MatrixFileError(f"{where} has unknown field {key!r}; valid fields: {', '.join(valid)}")
        if key == "batch_norm" and isinstance(value, bool):
            merged[key] = {} if value else None
        elif isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
            if key == "optimizer" and "name" in value and "form" not in value:
                # A form belongs to its optimiser (harness.core.specs.OPTIMIZER_FORMS): another optimiser starts
                # from its own default form.
                merged[key].pop("form", None)
        else:
            merged[key] = value
    return merged


def _grid_rows(table: dict[str, Any], defined: dict[str, Row]) -> list[Row]:
    """One [[grid]] table: itertools.product over its axes, each point a variant named prefix.leaf-value...."""
    _require_keys("a [[grid]] table", table, GRID_KEYS)
    if "base" not in table:
        raise MatrixFileError('a [[grid]] table has no base; write base = "relu-he" (a registered variant)')
    base = _base_variant(str(table["base"]), defined)
    prefix = check_name("grid name", table.get("name", base.name))
    axes = _typed(table, "axes", dict, {})
    if not axes or not all(isinstance(values, list) and values for values in axes.values()):
        raise MatrixFileError(
            f"grid {prefix!r}: axes must map field paths to non-empty lists, e.g. "
            'axes = { "model.activation" = ["relu", "tanh"], "train.optimizer.lr" = [0.001, 0.01] }'
        )
    rows = []
    for point in itertools.product(*axes.values()):
        chosen = dict(zip(axes, point, strict=True))
        changes: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
        for path, value in chosen.items():
            section, *fields = path.split(".")
            if section not in SPEC_SECTIONS or not fields:
                raise MatrixFileError(
                    f"grid {prefix!r}: axis {path!r} must start with 'model.' or 'train.' and name a field, "
                    "e.g. 'model.activation' or 'train.optimizer.lr'"
                )
            _set_path(changes[section], fields, value)
        label = ".".join(f"{path.rsplit('.', 1)[-1]}-{_format_value(value)}" for path, value in chosen.items())
        variant_table = {"name": _SAFE_NAME.sub("_", f"{prefix}.{label}"), "base": base.name, **changes}
        variant_table["description"] = f"{base.description}; " + ", ".join(f"{k} = {v}" for k, v in chosen.items())
        rows.append(_variant_row(variant_table, {**defined, base.name: Row(base)}))
    return rows


def _set_path(target: dict[str, Any], fields: list[str], value: Any) -> None:
    for name in fields[:-1]:
        target = target.setdefault(name, {})
    target[fields[-1]] = value


def _format_value(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    if isinstance(value, list):
        return "x".join(map(str, value))
    return str(value)
