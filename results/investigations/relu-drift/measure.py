"""Why ReLU networks' trajectories drift apart between frameworks and sigmoid/tanh ones stay together: the measurement.

For each (variant, optimiser, dtype, seed) the reference (NumPy) and PyTorch train the default matrix's cell the way
the runner does (harness.run.runner: canonical initial parameters, the same batches, the same arithmetic forms),
keeping their parameters after every optimiser step. The script compares the two parameter sets:

- after every step k (trajectory.csv): the relative parameter distance (harness.run.snapshots.distance, as the run
  report's divergence plot), the (example, hidden unit) pairs of the batch of step k + 1 whose pre-activation has
  a different sign in the two frameworks' own forward passes (for ReLU: a unit on in one framework, off in the
  other, on the batch they train on next), and the reference's own step size;
- at the divergence plot's steps and a few more (measurements.csv), in float64 so that the comparison adds no
  rounding of its own: the share of (test example, hidden unit) pairs whose sign differs, per hidden layer; the
  test predictions (argmax) that differ and each framework's test accuracy; on the next step's batch, the relative
  difference of the two gradients and, for ReLU, its split into the part from the units whose on/off state differs
  (PyTorch's parameters' gradient with its own on/off pattern minus the same with NumPy's pattern) and the rest.

Usage (about 10 minutes on one core, 4.3 GB of memory: every step's reference parameters are kept until compared):
    python results/investigations/relu-drift/measure.py --data-dir <MNIST IDX folder>
writes measurements.csv, trajectory.csv, summary.json and summary.md (medians over seeds, and one onset row per
arm: when the first unit flips, when the distance takes off) next to this file.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.catalog.matrices import get_matrix
from harness.catalog.variants import OPTIMIZER_SETTINGS
from harness.core.batching import epoch_order
from harness.core.build import build_model
from harness.core.frameworks import model_class, reference_name
from harness.core.initializers import initial_params
from harness.core.interface import Params
from harness.run.divergence import divergence_steps
from harness.run.executor import configure_threads
from harness.run.runner import Cell, cell_arrays, matrix_cells
from harness.run.snapshots import distance

HERE = Path(__file__).resolve().parent
MATRIX = "default"
VARIANTS = ("relu-he", "sigmoid-xavier", "tanh-xavier")
OPTIMIZERS = ("adam", "sgd")
"""'adam': the variant's own optimiser (the default matrix's Adam 1e-3); 'sgd': the optimizers matrix's plain SGD."""
FLOAT64_VARIANTS = ("relu-he",)
"""The float64 control: the same cells in float64 (both optimisers)."""
EXTRA_STEPS = (3, 30, 300)
"""Added to the divergence plot's steps (1, 10, 100 and each epoch end) for a log-spaced growth curve."""
Snapshot = Callable[[int, Params], None]


@dataclass(frozen=True)
class Arm:
    variant: str
    optimizer: str
    dtype: str
    seed: int


def arm_cell(matrix_cells_: list[Cell], arm: Arm, framework: str) -> Cell:
    """The default matrix's cell of `arm` in `framework`, with the arm's optimiser and dtype."""
    (cell,) = [
        cell
        for cell in matrix_cells_
        if cell.variant == arm.variant and cell.framework == framework and cell.seed == arm.seed
    ]
    optimizer = cell.train_spec.optimizer if arm.optimizer == "adam" else OPTIMIZER_SETTINGS[arm.optimizer]
    return replace(cell, train_spec=replace(cell.train_spec, optimizer=optimizer, dtype=arm.dtype))


def train(cell: Cell, data_dir: str | None, steps: tuple[int, ...], on_snapshot: Snapshot) -> None:
    """Train `cell` as harness.run.runner._train does (no evaluation), calling on_snapshot(step, params) at `steps`."""
    arrays = cell_arrays(cell.dataset, data_dir, cell.preprocessing, cell.train_spec.dtype)
    params = initial_params(cell.model_spec, cell.seed, cell.train_spec.dtype)
    model = build_model(
        model_class(cell.framework),
        cell.model_spec,
        cell.train_spec,
        params,
        steps_per_epoch=cell.train_spec.steps_per_epoch(len(arrays.x_train)),
    )
    model.fit(arrays.x_train, arrays.y_train, snapshot_steps=steps, on_snapshot=on_snapshot)


def next_batch(cell: Cell, x: np.ndarray, y: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The training batch of optimiser step step + 1 (fit's epoch orders, consecutive batches)."""
    spec = cell.train_spec
    per_epoch = spec.steps_per_epoch(len(x))
    order = epoch_order(len(x), spec.seed, step // per_epoch, spec.sampling)
    rows = order[(step % per_epoch) * spec.batch_size :][: spec.batch_size]
    return x[rows], y[rows]


class OwnPatterns:
    """The on/off (sign) pattern of every hidden pre-activation of a batch, computed by a framework's own forward
    pass (FrameworkModel.activations, training mode) from given parameters: the pattern its training step sees."""

    def __init__(self, cell: Cell) -> None:
        self.layers = len(cell.model_spec.hidden_sizes)
        params = initial_params(cell.model_spec, cell.seed, cell.train_spec.dtype)
        self.model = build_model(model_class(cell.framework), cell.model_spec, cell.train_spec, params)

    def __call__(self, params: Params, x: np.ndarray) -> np.ndarray:
        """(n, Σ widths) bool."""
        self.model.set_params(params)
        outputs = self.model.activations(x, training=True)
        return np.concatenate([outputs[f"dense{i}"] > 0 for i in range(self.layers)], axis=1)


# --- float64 forward and backward of a plain MLP (measurement only; the spec is checked in `check_plain`) ---------


def check_plain(cell: Cell) -> None:
    spec = cell.model_spec
    if (
        spec.batch_norm is not None
        or spec.has_dropout
        or spec.l2
        or spec.loss != "softmax_ce"
        or spec.output != "linear"
    ):
        raise SystemExit(f"{cell.variant}: this measurement handles only plain MLPs with softmax CE; pick another")


def _as64(params: Params) -> Params:
    return {key: value.astype(np.float64) for key, value in params.items()}


def _activation(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(activation, its derivative) of pre-activations z."""
    if name == "relu":
        return np.maximum(z, 0.0), (z > 0).astype(np.float64)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s, s * (1.0 - s)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1.0 - t * t
    raise SystemExit(f"activation {name!r} is not measured here; add it to _activation")


def pre_activations(
    params: Params, x: np.ndarray, activation: str, layers: int
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Every hidden layer's input (n, fan_in) and pre-activation input·W + b (n, width), and the logits
    (n, classes)."""
    hidden, inputs, pre = x, [], []
    for i in range(layers):
        inputs.append(hidden)
        pre.append(hidden @ params[f"dense{i}.W"] + params[f"dense{i}.b"])
        hidden = _activation(activation, pre[-1])[0]
    return inputs, pre, hidden @ params[f"dense{layers}.W"] + params[f"dense{layers}.b"]


def flip_margin(params: Params, x: np.ndarray, activation: str, layers: int, flips: np.ndarray, dtype: str) -> float:
    """The largest |pre-activation| among the flipped pairs `flips` (n, Σ widths) of `params` on `x`, in roundings
    of that sum in `dtype`: unit roundoff · (|input|·|W| + |b|), the size of one rounding of each of its terms."""
    weights = _as64(params)
    inputs, pre, _ = pre_activations(weights, x.astype(np.float64), activation, layers)
    ratios = [
        np.abs(z) / (np.abs(inputs[i]) @ np.abs(weights[f"dense{i}.W"]) + np.abs(weights[f"dense{i}.b"]))
        for i, z in enumerate(pre)
    ]
    return float(np.concatenate(ratios, axis=1)[flips].max() / (np.finfo(dtype).eps / 2))


def gradients(
    params: Params, x: np.ndarray, y: np.ndarray, activation: str, layers: int, derivatives: list[np.ndarray] | None
) -> Params:
    """Gradient of the mean softmax cross-entropy; `derivatives` (n, width) per layer replaces the activation's own
    derivative (for ReLU: another parameter set's on/off pattern, the forward pass using relu(z) = z·pattern)."""
    hidden, inputs, slopes = x, [], []
    for i in range(layers):
        z = hidden @ params[f"dense{i}.W"] + params[f"dense{i}.b"]
        value, slope = _activation(activation, z)
        if derivatives is not None:
            slope = derivatives[i]
            value = z * slope
        inputs.append(hidden)
        slopes.append(slope)
        hidden = value
    logits = hidden @ params[f"dense{layers}.W"] + params[f"dense{layers}.b"]
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    delta = probabilities
    delta[np.arange(len(y)), y] -= 1.0
    delta /= len(y)
    grads = {f"dense{layers}.W": hidden.T @ delta, f"dense{layers}.b": delta.sum(axis=0)}
    upstream = delta @ params[f"dense{layers}.W"].T
    for i in reversed(range(layers)):
        delta = upstream * slopes[i]
        grads[f"dense{i}.W"] = inputs[i].T @ delta
        grads[f"dense{i}.b"] = delta.sum(axis=0)
        upstream = delta @ params[f"dense{i}.W"].T
    return grads


def check_gradients(cell: Cell, data_dir: str | None) -> float:
    """Largest relative difference between `gradients` and the reference model's loss_and_grads in float64 on the
    first batch (the measurement's backward pass must be the model's)."""
    float64 = replace(cell.train_spec, dtype="float64")
    arrays = cell_arrays(cell.dataset, data_dir, cell.preprocessing, "float64")
    params = initial_params(cell.model_spec, cell.seed, "float64")
    model = build_model(model_class(reference_name()), cell.model_spec, float64, params)
    rows = epoch_order(len(arrays.x_train), cell.seed, 0, float64.sampling)[: float64.batch_size]
    x, y = arrays.x_train[rows], arrays.y_train[rows]
    _, expected = model.loss_and_grads(x, y)
    ours = gradients(params, x, y, cell.model_spec.activation, len(cell.model_spec.hidden_sizes), None)
    return max(float(np.abs(ours[key] - expected[key]).max() / np.abs(expected[key]).max()) for key in expected)


def _norm(tensors: Params) -> float:
    return float(np.sqrt(sum(np.sum(value**2) for value in tensors.values())))


def _difference(a: Params, b: Params) -> Params:
    return {key: a[key] - b[key] for key in a}


def compare(reference: Params, other: Params, cell: Cell, step: int, data_dir: str | None) -> dict[str, float]:
    """The numbers of the module docstring for one step (reference: NumPy's parameters, other: PyTorch's)."""
    activation, layers = cell.model_spec.activation, len(cell.model_spec.hidden_sizes)
    arrays = cell_arrays(cell.dataset, data_dir, cell.preprocessing, cell.train_spec.dtype)
    a, b = _as64(reference), _as64(other)
    x_test = arrays.x_test.astype(np.float64)
    _, pre_a, logits_a = pre_activations(a, x_test, activation, layers)
    _, pre_b, logits_b = pre_activations(b, x_test, activation, layers)
    row: dict[str, float] = {"relative_distance": distance(other, reference)["relative"]}
    flips = [np.mean((za > 0) != (zb > 0)) for za, zb in zip(pre_a, pre_b, strict=True)]
    for i, share in enumerate(flips):
        row[f"sign_differs_layer{i}"] = float(share)
    row["sign_differs"] = float(np.mean(flips))
    predictions_a, predictions_b = logits_a.argmax(axis=1), logits_b.argmax(axis=1)
    row["predictions_differ"] = float(np.mean(predictions_a != predictions_b))
    row["accuracy_reference"] = float(np.mean(predictions_a == arrays.y_test))
    row["accuracy_torch"] = float(np.mean(predictions_b == arrays.y_test))
    x, y = next_batch(cell, arrays.x_train, arrays.y_train, step)
    x = x.astype(np.float64)
    grad_a = gradients(a, x, y, activation, layers, None)
    grad_b = gradients(b, x, y, activation, layers, None)
    scale_a = _norm(grad_a)
    row["gradient_relative_difference"] = _norm(_difference(grad_b, grad_a)) / scale_a
    if activation == "relu":
        pattern_a = [(z > 0).astype(np.float64) for z in pre_activations(a, x, activation, layers)[1]]
        grad_b_on_a = gradients(b, x, y, activation, layers, pattern_a)
        row["gradient_difference_from_flips"] = _norm(_difference(grad_b, grad_b_on_a)) / scale_a
        row["gradient_difference_same_pattern"] = _norm(_difference(grad_b_on_a, grad_a)) / scale_a
    return row


# --- the run --------------------------------------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "relative_distance",
    "sign_differs",
    "predictions_differ",
    "gradient_relative_difference",
    "gradient_difference_from_flips",
    "gradient_difference_same_pattern",
)


def summarise(rows: list[dict]) -> list[dict]:
    """Median over seeds per (variant, optimizer, dtype, step)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["optimizer"], row["dtype"], row["step"]), []).append(row)
    summary = []
    for (variant, optimizer, dtype, step), members in groups.items():
        entry = {"variant": variant, "optimizer": optimizer, "dtype": dtype, "step": step, "seeds": len(members)}
        for column in members[0]:
            if column not in entry and column != "seed":
                entry[column] = statistics.median(member[column] for member in members)
        accuracy_gaps = [abs(m["accuracy_torch"] - m["accuracy_reference"]) for m in members]
        entry["max_accuracy_gap"] = max(accuracy_gaps)
        summary.append(entry)
    return summary


def markdown(summary: list[dict]) -> str:
    headers = ("variant", "optimizer", "dtype", "step", *SUMMARY_COLUMNS, "max_accuracy_gap")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for entry in summary:
        cells = [
            str(entry[h]) if h in ("variant", "optimizer", "dtype", "step") else _fmt(entry.get(h)) for h in headers
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def onset_markdown(onsets: list[dict]) -> str:
    headers = list(onsets[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for entry in onsets:
        lines.append("| " + " | ".join(v if isinstance(v, str) else _fmt(v) for v in entry.values()) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.2g}"


def measure_arm(arm: Arm, cells: list[Cell], other: str, data_dir: str | None) -> tuple[list[dict], list[dict], dict]:
    """Train the arm in the reference and in `other`; return its rows at the compared steps, its trajectory (one
    row per optimiser step) and its onset."""
    reference_cell, other_cell = (arm_cell(cells, arm, framework) for framework in (reference_name(), other))
    check_plain(reference_cell)
    arrays = cell_arrays(reference_cell.dataset, data_dir, reference_cell.preprocessing, arm.dtype)
    compared = set(divergence_steps(reference_cell.train_spec, len(arrays.x_train))) | set(EXTRA_STEPS)
    steps = tuple(range(max(compared) + 1))
    compared.discard(0)
    saved: dict[int, Params] = {}
    train(reference_cell, data_dir, steps, saved.__setitem__)
    reference_patterns, other_patterns = OwnPatterns(reference_cell), OwnPatterns(other_cell)
    label = {"variant": arm.variant, "optimizer": arm.optimizer, "dtype": arm.dtype, "seed": arm.seed}
    rows: list[dict] = []
    trajectory: list[dict] = []
    previous: list[Params] = []  # the reference's parameters one step earlier
    activation, layers = reference_cell.model_spec.activation, len(reference_cell.model_spec.hidden_sizes)

    def on_other(step: int, params: Params) -> None:
        reference = saved.pop(step)
        x, _ = next_batch(reference_cell, arrays.x_train, arrays.y_train, step)
        flips = reference_patterns(reference, x) != other_patterns(params, x)
        trajectory.append(
            {
                **label,
                "step": step,
                "relative_distance": distance(params, reference)["relative"],
                "next_batch_flips": int(flips.sum()),
                "next_batch_flipped_share": float(flips.mean()),
                "largest_flip_margin": flip_margin(reference, x, activation, layers, flips, arm.dtype)
                if flips.any()
                else None,
                "reference_step_size": distance(reference, previous[0])["relative"] if previous else 0.0,
            }
        )
        previous[:] = [reference]
        if step in compared:
            rows.append({**label, "step": step, **compare(reference, params, reference_cell, step, data_dir)})

    train(other_cell, data_dir, steps, on_other)
    return rows, trajectory, onset(trajectory, reference_cell.train_spec.steps_per_epoch(len(arrays.x_train)))


TAKEOFF_FACTOR = 100
"""A trajectory takes off at the first step whose distance exceeds this many times its distance after step 1."""


def onset(trajectory: list[dict], steps_per_epoch: int) -> dict:
    """When one arm's two frameworks first see a hidden unit on in one and off in the other on the batch they train
    on next (row k: the parameters after k steps and the batch of step k + 1), when the distance takes off, and how
    the flips and the reference's step size go on afterwards."""
    by_step = {row["step"]: row for row in trajectory}
    entry: dict = {key: trajectory[0][key] for key in ("variant", "optimizer", "dtype", "seed")}
    first = next((row for row in trajectory if row["next_batch_flips"]), None)
    entry["first_flip_step"] = None if first is None else first["step"]
    entry["first_flip_margin"] = None if first is None else first["largest_flip_margin"]
    threshold = TAKEOFF_FACTOR * by_step[1]["relative_distance"]
    takeoff = next((row["step"] for row in trajectory if row["relative_distance"] > threshold), None)
    entry["takeoff_step"] = takeoff
    before = [row for row in trajectory if takeoff is None or row["step"] < takeoff]
    entry["flips_before_takeoff"] = sum(row["next_batch_flips"] for row in before)
    entry["largest_margin_before_takeoff"] = max(
        (row["largest_flip_margin"] for row in before if row["next_batch_flips"]), default=None
    )
    entry["distance_before_takeoff"] = before[-1]["relative_distance"]
    entry["distance_at_takeoff"] = None if takeoff is None else by_step[takeoff]["relative_distance"]
    entry["distance_100_after_takeoff"] = (
        by_step[takeoff + 100]["relative_distance"] if takeoff is not None and takeoff + 100 in by_step else None
    )
    entry["distance_end"] = trajectory[-1]["relative_distance"]
    entry["flipped_pairs_total"] = sum(row["next_batch_flips"] for row in trajectory)
    after = [row for row in trajectory if takeoff is not None and row["step"] > takeoff]
    entry["flipped_share_per_distance"] = (
        statistics.median(row["next_batch_flipped_share"] / row["relative_distance"] for row in after)
        if after
        else None
    )
    last = trajectory[-1]["step"]
    entry["step_size_first_epoch"] = statistics.median(
        row["reference_step_size"] for row in trajectory if 0 < row["step"] <= steps_per_epoch
    )
    entry["step_size_last_epoch"] = statistics.median(
        row["reference_step_size"] for row in trajectory if row["step"] > last - steps_per_epoch
    )
    return entry


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=str(__doc__).splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding the MNIST IDX files")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of the float32 arms")
    parser.add_argument("--float64-seeds", type=int, default=2, help="seeds 0..N-1 of the float64 control")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    other = "torch"
    configure_threads(1, (reference_name(), other))
    cells = matrix_cells(get_matrix(MATRIX))
    arms = [Arm(v, o, "float32", s) for v in VARIANTS for o in OPTIMIZERS for s in range(args.seeds)]
    arms += [Arm(v, o, "float64", s) for v in FLOAT64_VARIANTS for o in OPTIMIZERS for s in range(args.float64_seeds)]
    checked = {}
    for variant in VARIANTS:
        checked[variant] = check_gradients(
            arm_cell(cells, Arm(variant, "adam", "float64", 0), reference_name()), args.data_dir
        )
        if checked[variant] > 1e-10:
            raise SystemExit(
                f"{variant}: the measurement's gradients differ from the model's by {checked[variant]:.2g}"
            )
    rows: list[dict] = []
    trajectories: list[dict] = []
    onsets: list[dict] = []
    for arm in arms:
        started = time.perf_counter()
        arm_rows, trajectory, arm_onset = measure_arm(arm, cells, other, args.data_dir)
        rows += arm_rows
        trajectories += trajectory
        onsets.append(arm_onset)
        print(
            f"{arm}: first flip after step {arm_onset['first_flip_step']}, takeoff {arm_onset['takeoff_step']}, "
            f"final distance "
            f"{arm_rows[-1]['relative_distance']:.2g}, predictions differ {arm_rows[-1]['predictions_differ']:.2g} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "measurements.csv", rows)
    write_csv(args.out / "trajectory.csv", trajectories)
    summary = summarise(rows)
    (args.out / "summary.json").write_text(
        json.dumps(
            {"frameworks": [reference_name(), other], "gradient_check": checked, "summary": summary, "onsets": onsets},
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )
    (args.out / "summary.md").write_text(markdown(summary) + "\n" + onset_markdown(onsets), encoding="utf-8")


if __name__ == "__main__":
    main()
