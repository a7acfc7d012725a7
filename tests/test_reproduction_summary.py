"""`fwcompare reproduction` over two synthetic run directories (the records of tests/test_report.py), one of them
with its published number marked illustrative: verdicts, headline counts and the written files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from harness.cli.main import main
from harness.core.record import CellRecord
from tests.test_report import write_record, write_run


def _changed_records(run_dir: Path, change) -> None:
    """Rewrite every stored record of `run_dir` as change(record) gives it."""
    for path in (run_dir / "cells").glob("*.json"):
        write_record(run_dir, change(CellRecord.from_json(json.loads(path.read_text()))), path.name)


def _mark_illustrative(run_dir: Path) -> None:
    _changed_records(
        run_dir,
        lambda record: (
            replace(record, published=replace(record.published, illustrative=True)) if record.published else record
        ),
    )


def test_summary_counts_reproduced_numbers_and_keeps_illustrative_ones_apart(tmp_path: Path, capsys) -> None:
    counted, illustrative = tmp_path / "seed-a", tmp_path / "seed-b"
    write_run(counted)
    write_run(illustrative)
    _mark_illustrative(illustrative)
    out = tmp_path / "REPRODUCTION-table.md"

    assert main(["reproduction", str(counted), str(illustrative), "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    # relu-he: numpy 97.92 and torch 97.945 against 97.90 published, both within 0.3 points
    assert "- numpy: 1 of 1 published numbers reproduced" in printed
    assert "- all 2 frameworks: 1 of 1" in printed
    assert "1 illustrative number(s) shown apart" in printed
    numbers = pd.read_csv(out.with_suffix(".csv"))
    assert list(numbers["run"]) == ["seed-a", "seed-b"]
    assert list(numbers["numpy_verdict"]) == ["reproduced", "illustrative"]
    assert "illustrative" in out.read_text()


def test_a_run_without_published_numbers_is_one_clear_error(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    write_run(run_dir)
    _changed_records(run_dir, lambda record: replace(record, published=None))
    assert main(["reproduction", str(run_dir)]) == 2
    assert "has no cell with a published number" in capsys.readouterr().err
