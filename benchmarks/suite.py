"""`python -m benchmarks`: every framework's training paths against the machine's limit, in one process.

Measures, in this order: each library's peak float32/float64 GEMM rate and the epoch's exact GEMM FLOPs (the
limit); then, per batch size, one warm-up epoch per path and `--rounds` timed epochs round-robin (the order
rotates each round, every path trains the same epoch order); then the harness overhead (FrameworkModel.fit's
recorded epoch time and wall time vs the bare train_epoch). Every timed epoch records the machine load around it
(harness.core.load) and the process's peak resident memory during it. Prints Markdown tables and writes JSON.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.gemm_floors import GEMM_FLOORS
from benchmarks.hand_loops import HAND_LOOPS, fits_hand_loops
from benchmarks.memory import current_mib, peak_mib, reset_peak
from harness.catalog.variants import get_variant
from harness.core.batching import epoch_order
from harness.core.conventions import native_specs
from harness.core.frameworks import available_frameworks, check_names, framework_names, model_class, plugin
from harness.core.initializers import initial_params
from harness.core.load import LoadMeter, machine_is_busy
from harness.run.environment import blas_libraries
from harness.run.executor import configure_threads
from harness.run.gemm import PEAK_SHAPE, epoch_gemm_flops, gemm_rates

# The hand loop each framework's fwcompare path is compared with (Keras' XLA mode: the XLA step).
HAND_LOOP_OF = {
    "numpy": "numpy hand loop",
    "torch": "torch hand loop",
    "keras": "keras hand loop (tf.function step)",
    "jax": "jax hand loop (jit step, optax)",
}
RESULTS_DIR = Path(__file__).parent / "results"
FLOOR_SUFFIX = " GEMMs only"


def training_arrays(args: argparse.Namespace, input_size: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, input_size) float32 and y (n,) int64: the real training set, or seeded uniform noise."""
    if args.dataset:
        from harness.data.loader import load_dataset
        from harness.data.preprocess import prepare_arrays

        arrays = prepare_arrays(load_dataset(args.dataset, args.data_dir), "unit", "none", "float32")
        return arrays.x_train, arrays.y_train
    rng = np.random.default_rng(0)
    x = rng.random((args.rows, input_size), dtype=np.float32)
    return x, rng.integers(0, classes, args.rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="relu-he", help="a plain variant also gets the hand-written loops")
    parser.add_argument(
        "--frameworks",
        default=",".join(framework_names()),
        help="default: every registered framework; one whose library is not installed is skipped with the reason",
    )
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per path and batch size after warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=60_000, help="rows of random MNIST-shaped data (no --dataset)")
    parser.add_argument("--dataset", help="train on a real data set instead (e.g. mnist)")
    parser.add_argument("--data-dir")
    parser.add_argument("--gemm-seconds", type=float, default=2.0, help="time spent per GEMM rate measurement")
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/<UTC time>.json)")
    parser.add_argument(
        "--openblas-native",
        action="store_true",
        help="drop OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this benchmark process only, so NumPy's OpenBLAS "
        "uses the kernel it detects (the kernel in use is recorded either way)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a short run: 4096 rows, batch 128, 1 round, 0.2 s per GEMM rate"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.batch_sizes, args.rounds, args.gemm_seconds = min(args.rows, 4096), "128", 1, 0.2
    return args


@dataclass
class PathTiming:
    """One training path at one batch size: warm-up epoch, timed epochs with their load samples and peak RSS."""

    path: str
    framework: str
    dtype: str
    batch_size: int
    first_s: float = float("nan")
    epochs_s: list[float] = field(default_factory=list)
    loads: list[dict] = field(default_factory=list)
    peak_mib: list[float | None] = field(default_factory=list)
    start_mib: list[float | None] = field(default_factory=list)


def timed(epoch: Callable[[np.ndarray], object], order: np.ndarray) -> tuple[float, dict, float | None, float | None]:
    """(seconds, load sample, peak RSS MiB during the epoch, RSS MiB at its start) of one epoch."""
    gc.collect()
    reset_peak()
    start_mib = current_mib()
    with LoadMeter() as meter:
        start = time.perf_counter()
        epoch(order)
        seconds = time.perf_counter() - start
    return seconds, meter.measured.as_dict(), peak_mib(), start_mib


def fwcompare_paths(variant, x, y, batch_size: int, frameworks: list[str], device: str) -> dict:
    """{path name: (framework, dtype, epoch(order))} for each framework's train_epoch (Keras also with XLA, the
    reference also in float64)."""
    paths = {}
    settings = [(name, variant.train.dtype, {}) for name in frameworks]
    if "numpy" in frameworks:
        settings.append(("numpy", "float64", {}))
    if "keras" in frameworks:
        settings.append(("keras", variant.train.dtype, {"execution": "xla"}))
    for framework, dtype, options in settings:
        train = replace(variant.train, batch_size=batch_size, dtype=dtype)
        model_spec, train_spec = native_specs(variant.model, train, framework)
        steps = -(-len(x) // batch_size)
        params = initial_params(model_spec, train_spec.seed, dtype)
        model = model_class(framework)(model_spec, train_spec, params, device=device, steps_per_epoch=steps, **options)
        data = model.upload(x, y)
        name = f"{framework} fwcompare" + (f" ({options['execution']})" if options else "")
        name += f" {dtype}" if dtype != variant.train.dtype else ""

        paths[name] = (framework, dtype, bare_epoch(model, data))
    return paths


def hand_paths(variant, x, y, batch_size: int, frameworks: list[str]) -> dict:
    params = initial_params(variant.model, variant.train.seed, "float32")
    sizes = variant.model.layer_sizes
    return {
        name: (framework, "float32", make(x, y, sizes, variant.train.optimizer.lr, batch_size, params))
        for name, framework, make in HAND_LOOPS
        if framework in frameworks
    }


def gemm_floor_paths(variant, x, batch_size: int, frameworks: list[str]) -> dict:
    """{"<library> GEMMs only": (framework, "float32", epoch(order))}, once per GEMM library of `frameworks`."""
    paths = {}
    for framework in frameworks:
        library = plugin(framework).gemm_library
        name = f"{library}{FLOOR_SUFFIX}"
        if library in GEMM_FLOORS and name not in paths:
            paths[name] = (framework, "float32", GEMM_FLOORS[library](x, variant.model.layer_sizes, batch_size))
    return paths


def time_paths(paths: dict, batch_size: int, rounds: int, n: int, seed: int) -> list[PathTiming]:
    timings = {name: PathTiming(name, framework, dtype, batch_size) for name, (framework, dtype, _) in paths.items()}
    names = list(paths)
    for name in names:
        timings[name].first_s = timed(paths[name][2], epoch_order(n, seed, 0))[0]
    for round_index in range(rounds):
        order = epoch_order(n, seed, round_index + 1)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, load, peak, start = timed(paths[name][2], order)
            timing = timings[name]
            timing.epochs_s.append(seconds)
            timing.loads.append(load)
            timing.peak_mib.append(peak)
            timing.start_mib.append(start)
    return list(timings.values())


def bare_epoch(model, data) -> Callable[[np.ndarray], None]:
    def epoch(order: np.ndarray) -> None:
        model.train_epoch(data, order)
        model.synchronize()

    return epoch


def harness_overhead(variant, x, y, frameworks: list[str], epochs: int, device: str) -> list[dict]:
    """Per framework: FrameworkModel.fit's recorded epoch times and wall time against bare train_epoch calls on
    another copy of the model, alternating, after one warm-up epoch each."""
    rows = []
    n = len(x)
    steps = -(-n // variant.train.batch_size)
    for framework in frameworks:
        model_spec, train_spec = native_specs(variant.model, replace(variant.train, epochs=1), framework)
        params = initial_params(model_spec, train_spec.seed, train_spec.dtype)
        build = model_class(framework)
        fitted = build(model_spec, train_spec, params, device=device, steps_per_epoch=steps)
        bare = build(model_spec, train_spec, params, device=device, steps_per_epoch=steps)
        data = bare.upload(x, y)
        recorded, walls, bares = [], [], []
        for epoch in range(epochs + 1):
            start = time.perf_counter()
            result = fitted.fit(x, y)
            wall = time.perf_counter() - start
            bare_s = timed(bare_epoch(bare, data), epoch_order(n, 0, 0))[0]
            if epoch:
                recorded.append(result.history[0].train_time_s)
                walls.append(wall)
                bares.append(bare_s)
        rows.append(
            {
                "framework": framework,
                "bare train_epoch s": statistics.median(bares),
                "fit recorded epoch s": statistics.median(recorded),
                "fit wall s": statistics.median(walls),
                "recorded / bare": statistics.median(r / b for r, b in zip(recorded, bares, strict=True)),
                "fit wall / bare": statistics.median(w / b for w, b in zip(walls, bares, strict=True)),
            }
        )
    return rows


def summarise(timings: list[PathTiming], flops: int, rates: list[dict]) -> pd.DataFrame:
    best = {
        dtype: max((r["gflops"] for r in rates if r["dtype"] == dtype and r["shape"] == "peak"), default=float("nan"))
        for dtype in ("float32", "float64")
    }
    own = {(r["library"], r["dtype"]): r["gflops"] for r in rates if r["shape"] == "peak"}
    by_name = {(t.path, t.batch_size): t for t in timings}
    rows = []
    for t in timings:
        median = statistics.median(t.epochs_s) if t.epochs_s else float("nan")
        limit_s = flops / (best[t.dtype] * 1e9)
        library = plugin(t.framework).gemm_library
        own_rate = own.get((library, t.dtype), float("nan"))
        is_floor = t.path.endswith(FLOOR_SUFFIX)
        hand_name = "keras jit step (XLA)" if t.path == "keras fwcompare (xla)" else HAND_LOOP_OF[t.framework]
        hand = None if is_floor else by_name.get((hand_name, t.batch_size))
        floor = by_name.get((f"{library}{FLOOR_SUFFIX}", t.batch_size)) if t.dtype == "float32" else None
        numpy_path = by_name.get(("numpy fwcompare", t.batch_size))
        peaks = [p for p in t.peak_mib if p is not None]
        growth = [p - s for p, s in zip(t.peak_mib, t.start_mib, strict=True) if p is not None and s is not None]
        rows.append(
            {
                "batch": t.batch_size,
                "path": t.path,
                "dtype": t.dtype,
                "first s": t.first_s,
                "median s": median,
                "range s": f"{min(t.epochs_s):.3f}–{max(t.epochs_s):.3f}" if t.epochs_s else "",
                "GFLOP/s": flops / median / 1e9,
                "× limit": median / limit_s,
                "× own GEMM limit": median * own_rate * 1e9 / flops,
                "× hand loop": _round_ratio(t, hand),
                "× GEMMs only": _round_ratio(t, floor),
                "× numpy path": _round_ratio(t, numpy_path),
                "peak MiB": max(peaks) if peaks else float("nan"),
                "epoch +MiB": max(growth) if growth else float("nan"),
                "contended": f"{sum(load['contended'] for load in t.loads)}/{len(t.loads)}",
            }
        )
    return pd.DataFrame(rows)


def _round_ratio(timing: PathTiming, other: PathTiming | None) -> float:
    """Median over rounds of timing / other (the same round, so drift touches both), NaN without `other`."""
    if other is None or other is timing or not other.epochs_s:
        return float("nan")
    return statistics.median(a / b for a, b in zip(timing.epochs_s, other.epochs_s, strict=True))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    requested = args.frameworks.split(",")
    check_names(requested)
    status = available_frameworks()  # looked up without importing, so the thread counts below still apply
    skipped = {name: status[name] for name in requested if status[name] is not None}
    frameworks = [name for name in requested if name not in skipped]
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    configure_threads(args.threads, frameworks)
    if machine_is_busy():
        print(f"warning: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: timings will be contended")
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    variant = get_variant(args.variant)
    x, y = training_arrays(args, variant.model.input_size, variant.model.output_size)
    variant = variant.for_data(x.shape[1], int(y.max()) + 1)
    flops = epoch_gemm_flops(variant.model, variant.train, len(x))

    shapes = {"peak": PEAK_SHAPE, "128×784×256": (128, 784, 256)}
    rates = gemm_rates(frameworks, shapes, args.gemm_seconds)

    timings: list[PathTiming] = []
    for batch_size in batch_sizes:
        paths = fwcompare_paths(variant, x, y, batch_size, frameworks, "cpu")
        if fits_hand_loops(variant.model, variant.train):
            paths.update(hand_paths(variant, x, y, batch_size, frameworks))
        paths.update(gemm_floor_paths(variant, x, batch_size, frameworks))
        timings += time_paths(paths, batch_size, args.rounds, len(x), variant.train.seed)
        del paths
        gc.collect()
    overhead = harness_overhead(variant, x, y, frameworks, max(args.rounds, 1), "cpu")

    summary = summarise(timings, flops, rates)
    rates_table = pd.DataFrame(rates)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads")
    print(
        "BLAS kernels: "
        + ", ".join(f"{k['internal_api']} {k.get('architecture') or ''}".strip() for k in blas_libraries())
    )
    print(f"{args.variant}: layers {variant.model.layer_sizes}, {len(x)} rows, GEMM work {flops / 1e9:.1f} GFLOP/epoch")
    print("\nGEMM rates (GFLOP/s, best of repeated calls)\n")
    print(
        rates_table.pivot_table(index=["library"], columns=["dtype", "shape"], values="gflops").to_markdown(
            floatfmt=".0f"
        )
    )
    print("\nEpochs (limit = GEMM work / best float32 or float64 rate above)\n")
    print(summary.to_markdown(index=False, floatfmt=".3g"))
    print("\nHarness overhead (FrameworkModel.fit vs bare train_epoch, batch of the variant)\n")
    print(pd.DataFrame(overhead).to_markdown(index=False, floatfmt=".3f"))

    out = args.out or RESULTS_DIR / f"{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "args": {key: str(value) for key, value in vars(args).items()},
        "machine": {"processor": platform.processor(), "cores": os.cpu_count(), "blas": blas_libraries()},
        "env": {key: os.environ.get(key) for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_WAIT_POLICY")},
        "epoch_gemm_flops": flops,
        "gemm_rates": rates,
        "timings": [t.__dict__ for t in timings],
        "summary": json.loads(summary.to_json(orient="records")),
        "harness_overhead": overhead,
        "skipped": skipped,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {out}")
    return 0


def reexec_without_forced_openblas_kernel(argv: list[str]) -> None:
    """Replace this process by one without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (read by OpenBLAS when it loads)."""
    if "--openblas-native" in argv and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *argv], env)
