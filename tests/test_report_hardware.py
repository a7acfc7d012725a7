"""Timings from different hardware are never put side by side: the timing table has a row per (group, hardware),
the summary refuses one time for a group that ran on several, and the report says the run spans several kinds.
The records are test data written here (a torch seed on another machine, as a Ray cluster may give)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.core.interface import EpochRecord
from harness.core.record import CellHardware, CellRecord, CellResult, CellTiming
from harness.report.build import build_report

FAST = CellHardware(cpu_model="Fast CPU", gpu_model=None, threads=2)
SLOW = CellHardware(cpu_model="Slow CPU", gpu_model="Some GPU", threads=2)
# (framework, seed) -> (hardware, steady epoch seconds)
CELLS = {
    ("numpy", 0): (FAST, 1.0),
    ("numpy", 1): (FAST, 1.2),
    ("torch", 0): (FAST, 0.8),
    ("torch", 1): (SLOW, 3.0),
}


def record(framework: str, seed: int, hardware: CellHardware | None, epoch_s: float) -> CellRecord:
    history = tuple(
        EpochRecord(epoch=epoch, train_loss=0.5 - 0.1 * epoch, train_time_s=epoch_s, lr=1e-3, val_accuracy=0.9)
        for epoch in range(3)
    )
    return CellRecord(
        key=f"relu-he-{framework}-s{seed}",
        variant="relu-he",
        framework=framework,
        seed=seed,
        dataset="digits",
        eval_split="test",
        model_spec={"loss": "softmax_ce"},
        train_spec={"epochs": 3},
        history=history,
        result=CellResult(test_loss=0.3, test_accuracy=0.9 + 0.01 * seed, epochs_run=3),
        timing=CellTiming(
            build_s=0.01,
            first_epoch_s=2 * epoch_s,
            steady_epoch_median_s=epoch_s,
            eval_median_s=0.1,
            samples_per_s=1500 / epoch_s,
            threads=2,
            device="cpu",
        ),
        hardware=hardware,
    )


def write_run(run_dir: Path, records: list[CellRecord], environment: dict) -> None:
    (run_dir / "cells").mkdir(parents=True)
    for cell in records:
        (run_dir / "cells" / f"{cell.key}.json").write_text(json.dumps(cell.to_json()))
    (run_dir / "environment.json").write_text(json.dumps(environment))


def test_timings_on_different_hardware_get_a_row_each_and_are_not_summarised_together(tmp_path):
    write_run(tmp_path, [record(f, s, hw, t) for (f, s), (hw, t) in CELLS.items()], {"cpu_model": "Fast CPU"})
    report = build_report(tmp_path)
    timing = pd.read_csv(tmp_path / "tables" / "timing.csv")
    torch = timing[timing["framework"] == "torch"].set_index("hardware")
    assert sorted(torch.index) == ["Fast CPU", "Slow CPU"]  # cpu-device cells: the GPU does not set their times
    assert torch.loc["Fast CPU", "steady_epoch_median_s"] == pytest.approx(0.8)
    assert torch.loc["Slow CPU", "steady_epoch_median_s"] == pytest.approx(3.0)
    assert list(torch["n_seeds"]) == [1, 1]
    numpy = timing[timing["framework"] == "numpy"]
    assert list(numpy["hardware"]) == ["Fast CPU"] and numpy["steady_epoch_median_s"].item() == pytest.approx(1.1)

    summary = report.summary.set_index("framework")
    assert summary.loc["torch", "steady epoch, median (s)"] == "per hardware: see timing"
    assert summary.loc["numpy", "steady epoch, median (s)"] == "1.1"  # 3 significant digits
    assert len(report.summary) == 2
    text = (tmp_path / "report.md").read_text()
    assert "ran on 2 kinds of hardware (Fast CPU; Slow CPU)" in text and "not across" in text


def test_records_without_hardware_ran_on_the_machine_environment_json_names(tmp_path):
    write_run(tmp_path, [record("numpy", 0, None, 1.0), record("torch", 0, None, 0.5)], {"cpu_model": "Env CPU"})
    build_report(tmp_path)
    timing = pd.read_csv(tmp_path / "tables" / "timing.csv")
    assert set(timing["hardware"]) == {"Env CPU"}
    assert "All ok cells ran on one kind of hardware (Env CPU)." in (tmp_path / "report.md").read_text()


def test_a_cuda_cell_is_labelled_with_its_gpu():
    assert SLOW.label("cuda:0") == "Slow CPU + Some GPU"
    assert SLOW.label("cpu") == "Slow CPU"
    assert FAST.label("cuda") == "Fast CPU"
