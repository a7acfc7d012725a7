"""Epoch-time benchmark: one variant's fast training path in every framework, timed round-robin.

Each round trains one epoch per framework, in an order that rotates between rounds, so slow drift of a shared
machine touches every framework alike. The first epoch (tracing, allocation, caches) is reported apart. Reports
the median and range per framework and, per round, each framework's time divided by the first framework's, whose
median is the ratio to quote.

    python benchmarks/epoch_time.py --variant relu-he --rounds 5 --threads 2
    python benchmarks/epoch_time.py --dataset mnist --data-dir ../shared/data/mnist --frameworks numpy,torch,keras
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
import pandas as pd

from harness.batching import dropout_masks, epoch_order
from harness.conventions import native_specs
from harness.executor import configure_threads
from harness.frameworks import model_class
from harness.variants import get_variant
from reference.initializers import initial_params


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="relu-he")
    parser.add_argument("--frameworks", default="numpy,torch,keras")
    parser.add_argument("--rounds", type=int, default=5, help="timed epochs per framework after the first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=60_000, help="rows of random MNIST-shaped data (no --dataset)")
    parser.add_argument("--dataset", help="train on a real data set instead (e.g. mnist)")
    parser.add_argument("--data-dir")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON")
    return parser.parse_args(argv)


def training_arrays(args: argparse.Namespace, input_size: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, input_size) float32 and y (n,) int64: the real training set, or seeded uniform noise."""
    if args.dataset:
        from harness.datasets import load_dataset
        from harness.preprocess import prepare_arrays

        arrays = prepare_arrays(load_dataset(args.dataset, args.data_dir), "unit", "none", "float32")
        return arrays.x_train, arrays.y_train
    rng = np.random.default_rng(0)
    x = rng.random((args.rows, input_size), dtype=np.float32)
    return x, rng.integers(0, classes, args.rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frameworks = args.frameworks.split(",")
    configure_threads(args.threads, frameworks)
    variant = get_variant(args.variant)
    x, y = training_arrays(args, variant.model.input_size, variant.model.output_size)
    variant = variant.for_data(x.shape[1], int(y.max()) + 1)
    steps_per_epoch = -(-len(x) // variant.train.batch_size)
    params = initial_params(variant.model, variant.train.seed, variant.train.dtype)
    order = epoch_order(len(x), variant.train.seed, 0)
    masks = dropout_masks(variant.model, len(x), variant.train.seed, 0)

    models, data, first_epoch = {}, {}, {}
    for name in frameworks:
        model_spec, train_spec = native_specs(variant.model, variant.train, name)
        models[name] = model_class(name)(
            model_spec, train_spec, params, device=args.device, steps_per_epoch=steps_per_epoch
        )
        data[name] = models[name].upload(x, y)
        first_epoch[name] = timed_epoch(models[name], data[name], order, masks)

    times: dict[str, list[float]] = {name: [] for name in frameworks}
    for round_index in range(args.rounds):
        shift = round_index % len(frameworks)
        for name in frameworks[shift:] + frameworks[:shift]:
            times[name].append(timed_epoch(models[name], data[name], order, masks))

    baseline = frameworks[0]
    table = pd.DataFrame(
        {
            "framework": name,
            "first epoch s": first_epoch[name],
            "median epoch s": statistics.median(times[name]),
            "min s": min(times[name]),
            "max s": max(times[name]),
            "samples/s": len(x) / statistics.median(times[name]),
            f"ratio to {baseline} (median of rounds)": statistics.median(
                t / b for t, b in zip(times[name], times[baseline], strict=True)
            ),
        }
        for name in frameworks
    )
    if args.json:
        print(json.dumps({"args": vars(args), "times_s": times, "first_epoch_s": first_epoch}, indent=2))
    else:
        print(
            f"{args.variant}: {len(x)} rows, batch {variant.train.batch_size}, {args.threads} threads, "
            f"{args.rounds} rounds, device {args.device}"
        )
        print(table.to_markdown(index=False, floatfmt=".3f"))
    return 0


def timed_epoch(model, data, order: np.ndarray, masks) -> float:
    """Seconds for one train_epoch, the device synchronised before both clock reads."""
    model.synchronize()
    start = time.perf_counter()
    model.train_epoch(data, order, masks)
    model.synchronize()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
