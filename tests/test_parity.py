"""Parity of every parity variant × framework pair × dtype through the engine, and the engine's own contract.

Each (variant, dtype) case runs once per session (all pairs together) and the parametrized tests read its rows.
A row passes when it is OK, or EXPLAINED by conventions the case really has (harness.core.conventions.form_differences)
or by rounding after the steps; the engine only marks EXPLAINED what the reference reproduces.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import ClassVar

import pytest

from harness.catalog.variants import DEFAULT_VARIANTS
from harness.cli.main import main
from harness.core.conventions import CONVENTIONS_BY_NAME, form_differences
from harness.core.errors import FrameworkUnavailableError
from harness.core.frameworks import framework_names, model_class
from harness.core.schedules import learning_rate
from harness.core.specs import DTYPES, OPTIMIZERS, SCHEDULE_GRANULARITIES, SCHEDULES
from harness.parity.inputs import DEFAULT_STEPS, PARITY_STEPS_PER_EPOCH, parity_specs
from harness.parity.results import CHECKS, EXPLAINED, NOT_OK, OK, ROUNDING, ParityRow, explained_by
from harness.parity.suite import pairs, run_case, run_parity
from harness.parity.variants import PARITY_VARIANTS, SCHEDULE_VARIANTS

Reference = model_class("numpy")
PAIR_NAMES = [f"{a}-vs-{b}" for a, b in pairs(framework_names())] + [f"{f}-epoch-vs-step" for f in framework_names()]
CASES = [
    pytest.param(variant, pair, dtype, id=f"{variant}-{pair}-{dtype}")
    for variant in PARITY_VARIANTS
    for pair in PAIR_NAMES
    for dtype in DTYPES
]


def _frameworks_of(pair: str) -> list[str]:
    return pair.removesuffix("-epoch-vs-step").split("-vs-")


@pytest.fixture(scope="session")
def model_classes() -> tuple[dict, dict[str, str]]:
    """({framework: MLP class} for the importable frameworks, {framework: why not} for the others)."""
    classes, missing = {}, {}
    for name in framework_names():
        try:
            classes[name] = model_class(name)
        except FrameworkUnavailableError as error:
            missing[name] = str(error)
    return classes, missing


@pytest.fixture(scope="session")
def case_rows(model_classes):
    """rows(variant, dtype): every row of that case on the CPU, computed once per session."""
    classes, _ = model_classes
    cache: dict[tuple[str, str], list[ParityRow]] = {}

    def rows(variant: str, dtype: str) -> list[ParityRow]:
        if (variant, dtype) not in cache:
            cache[variant, dtype] = run_case(PARITY_VARIANTS[variant], dtype, classes)
        return cache[variant, dtype]

    return rows


def _assert_ok_or_explained(rows: list[ParityRow], allowed_explanations: set[str]) -> None:
    failures = [
        f"{r.check} {r.tensor}: abs {r.max_abs_diff:.2e} rel {r.max_rel_diff:.2e}: {r.note}"
        for r in rows
        if r.status not in (OK, EXPLAINED)
    ]
    assert not failures, "\n".join(failures)
    for row in rows:
        if row.status == EXPLAINED:
            cited = set(explained_by(row))
            assert cited, row.note
            assert cited <= allowed_explanations, f"{row.check} {row.tensor} cites {cited - allowed_explanations}"
            assert all(name in CONVENTIONS_BY_NAME for name in cited)


@pytest.mark.parametrize(("variant", "pair", "dtype"), CASES)
def test_parity(case_rows, model_classes, variant, pair, dtype):
    _, missing = model_classes
    for framework in _frameworks_of(pair):
        if framework in missing:
            pytest.skip(f"{framework} unavailable: {missing[framework]}")
    rows = [r for r in case_rows(variant, dtype) if r.pair == pair]
    assert rows, f"no rows for {pair}"
    if pair.endswith("-epoch-vs-step"):
        _assert_ok_or_explained(rows, allowed_explanations=set())
        model_spec, _ = parity_specs(PARITY_VARIANTS[variant], dtype, DEFAULT_STEPS)
        assert {r.tensor for r in rows} >= {"train_epoch losses", "dense0.W", f"dense{len(model_spec.hidden_sizes)}.b"}
        return
    model_spec, train_spec = parity_specs(PARITY_VARIANTS[variant], dtype, DEFAULT_STEPS)
    allowed = {ROUNDING}
    left, right = _frameworks_of(pair)
    if left != Reference.framework:
        allowed |= set(form_differences(model_spec, train_spec, left, right))
    _assert_ok_or_explained(rows, allowed)
    expected_checks = set(CHECKS)
    if train_spec.optimizer.name == "sgd":
        expected_checks.discard("optimizer-state-after-steps")  # plain SGD keeps no slots
    assert {r.check for r in rows} == expected_checks
    # Single-pass checks are never excused: only OK passes before the optimiser has run.
    assert all(r.status == OK for r in rows if not CHECKS[r.check])


@pytest.mark.parametrize("variant", [v.name for v in DEFAULT_VARIANTS])
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_on_cuda(model_classes, variant, dtype):
    classes, missing = model_classes
    if "torch" in missing:
        pytest.skip(f"torch unavailable: {missing['torch']}")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to PyTorch; the CUDA parity cases run only on a GPU machine")
    rows = run_case(PARITY_VARIANTS[variant], dtype, classes, ("numpy", "torch"), device="cuda")
    _assert_ok_or_explained(rows, {ROUNDING})


# --- what the matrix covers -------------------------------------------------------------------------------------


def test_parity_variants_cover_the_default_matrix_every_optimizer_and_schedule():
    assert {v.name for v in DEFAULT_VARIANTS} <= set(PARITY_VARIANTS)
    assert {v.train.optimizer.name for v in PARITY_VARIANTS.values()} == set(OPTIMIZERS)
    schedules = {(v.train.schedule.kind, v.train.schedule.granularity) for v in SCHEDULE_VARIANTS}
    assert schedules == {(k, g) for k in SCHEDULES if k != "constant" for g in SCHEDULE_GRANULARITIES}
    assert {v.train.optimizer.name for v in SCHEDULE_VARIANTS} == {"momentum"}


@pytest.mark.parametrize("variant", SCHEDULE_VARIANTS, ids=lambda v: v.name)
def test_schedules_change_the_learning_rate_within_the_steps(variant):
    _, train_spec = parity_specs(variant, "float64", DEFAULT_STEPS)
    rates = [learning_rate(train_spec, k, PARITY_STEPS_PER_EPOCH) for k in range(DEFAULT_STEPS)]
    assert len(set(rates)) >= 3, rates


# --- the engine itself, on the reference alone (no framework needed) --------------------------------------------


def _reference_stands_in_for_both(variant, dtype="float64"):
    """torch-vs-keras rows with the reference in each framework's native forms standing in for both frameworks."""
    classes = {"numpy": Reference, "torch": Reference, "keras": Reference}
    return [r for r in run_case(variant, dtype, classes, ("torch", "keras")) if r.pair == "torch-vs-keras"]


@pytest.mark.parametrize(
    ("variant", "convention", "differing_tensor"),
    [
        ("relu-he-adam", "adam-epsilon-hat", ("params-after-steps", "dense0.W")),
        ("relu-he-rmsprop", "eps-inside-root", ("params-after-steps", "dense0.W")),
        ("relu-he-adagrad", "eps-inside-root", ("params-after-steps", "dense0.W")),
        ("relu-he-momentum-linear-per-step", "momentum-velocity-form", ("params-after-steps", "dense0.W")),
        ("relu-he-momentum", "momentum-velocity-form", ("optimizer-state-after-steps", "dense0.W/velocity")),
    ],
)
def test_reference_forms_show_the_explained_optimizer_differences(variant, convention, differing_tensor):
    rows = _reference_stands_in_for_both(PARITY_VARIANTS[variant])
    by_tensor = {(r.check, r.tensor): r for r in rows}
    assert by_tensor[differing_tensor].status == EXPLAINED
    assert convention in explained_by(by_tensor[differing_tensor])
    assert not [r for r in rows if r.status == NOT_OK]
    assert all(r.status == OK for r in rows if not CHECKS[r.check])


def test_momentum_under_a_constant_lr_keeps_the_same_parameters():
    rows = _reference_stands_in_for_both(PARITY_VARIANTS["relu-he-momentum"])
    assert all(r.status == OK for r in rows if r.check == "params-after-steps")


def test_running_variance_convention_shows_only_where_it_should():
    base = PARITY_VARIANTS["relu-he-batchnorm"]
    sgd = PARITY_VARIANTS["relu-he-sgd"].train  # SGD has one form, so BN's variance is the only difference
    rows = _reference_stands_in_for_both(replace(base, name=f"{base.name}-sgd", train=sgd))
    status = {(r.check, r.tensor): r.status for r in rows}
    assert status["params-after-steps", "bn0.running_var"] == EXPLAINED
    assert status["params-after-steps", "bn0.running_mean"] == OK
    assert status["params-after-steps", "dense0.W"] == OK
    assert status["forward-inference-after-steps", "bn0"] == EXPLAINED
    assert status["step-losses", "train_step losses"] == OK
    assert all("bn-running-variance" in explained_by(r) for r in rows if r.status == EXPLAINED)


def test_report_json_has_the_parity_json_format(monkeypatch):
    def unavailable_keras(name):
        if name == "keras":
            raise FrameworkUnavailableError("framework 'keras' is unavailable here (test)")
        return Reference

    monkeypatch.setattr("harness.parity.suite.model_class", unavailable_keras)
    report = run_parity(["relu-he-sgd"], ["numpy", "torch", "keras"], ["float64"], DEFAULT_STEPS, "cpu")
    assert set(report.unavailable) == {"keras"}
    assert {r.pair for r in report.rows} == {"numpy-vs-torch", "numpy-epoch-vs-step", "torch-epoch-vs-step"}
    document = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert set(document) == {"rows", "summary"}
    row_keys = {"pair", "variant", "dtype", "check", "tensor", "max_abs_diff", "max_rel_diff", "rtol", "atol"}
    assert all(set(row) == row_keys | {"status", "note"} for row in document["rows"])
    assert document["summary"]["passed"] is True
    assert document["summary"]["unavailable"] == report.unavailable
    assert document["summary"]["counts"][OK] == len(report.rows)


def test_the_fast_mode_builds_the_timed_path_with_the_frameworks_fast_options(monkeypatch):
    built = []

    class Fast(Reference):
        fast_options: ClassVar[dict[str, str]] = {"execution": "compiled"}

        def __init__(self, *args, execution="exact", **kwargs):
            built.append(execution)
            super().__init__(*args, **kwargs)

    classes = {"numpy": Reference, "torch": Fast}
    report = run_parity(["relu-he-sgd"], ["numpy", "torch"], ["float64"], DEFAULT_STEPS, "cpu", mode="fast")
    assert report.mode == "fast" and report.to_json()["summary"]["mode"] == "fast"
    rows = run_case(PARITY_VARIANTS["relu-he-sgd"], "float64", classes, mode="fast")
    assert {r.pair for r in rows} == {"numpy-vs-torch", "numpy-fast-epoch-vs-step", "torch-fast-epoch-vs-step"}
    # The pair's trace is exact; only the model the timed path trains is built in the fast mode.
    assert built == ["exact", "compiled"]
    fit_rows = [r for r in rows if r.pair == "torch-fast-epoch-vs-step"]
    assert {r.status for r in fit_rows} == {OK} and "fast mode" in fit_rows[0].note


def test_missing_tensors_and_non_finite_values_fail():
    class NoLogits(Reference):
        def activations(self, x, training, dropout_masks=None):
            outputs = super().activations(x, training, dropout_masks)
            outputs.pop("logits")
            return outputs

    rows = run_case(PARITY_VARIANTS["relu-he-sgd"], "float64", {"numpy": Reference, "torch": NoLogits})
    logits = [r for r in rows if r.pair == "numpy-vs-torch" and r.tensor == "logits"]
    assert logits and all(r.status == NOT_OK and math.isinf(r.max_abs_diff) for r in logits)
    assert "torch has no tensor 'logits'" in logits[0].note


def test_a_failing_model_is_a_not_ok_row_and_the_other_pairs_still_run():
    class Crashes(Reference):
        def train_step(self, x, y, dropout_masks=None):
            raise RuntimeError("no kernel for this dtype")

    classes = {"numpy": Reference, "torch": Reference, "keras": Crashes}
    rows = run_case(PARITY_VARIANTS["relu-he-sgd"], "float64", classes)
    errors = [r for r in rows if r.check == "error"]
    assert {r.pair for r in errors} == {"numpy-vs-keras", "torch-vs-keras", "keras-epoch-vs-step"}
    assert all(r.status == NOT_OK and "RuntimeError: no kernel for this dtype" in r.note for r in errors)
    assert {r.status for r in rows if r.pair == "numpy-vs-torch"} == {OK}


@pytest.fixture
def cli_without_thread_setup(monkeypatch):
    """The CLI as is, except that it leaves this test process's thread settings alone."""
    monkeypatch.setattr("harness.cli.parity.configure_threads", lambda threads, frameworks: None)


def test_cli_parity_writes_parity_json_and_exits_0(cli_without_thread_setup, tmp_path, capsys):
    status = main(
        ["parity", "--variants", "relu-he-sgd", "--frameworks", "numpy", "--dtype", "float64", "--out", str(tmp_path)]
    )
    assert status == 0
    document = json.loads((tmp_path / "parity.json").read_text())
    assert {r["pair"] for r in document["rows"]} == {"numpy-epoch-vs-step"}
    assert "parity PASSED" in capsys.readouterr().out


def test_cli_parity_exits_1_and_names_the_first_diverging_layer(cli_without_thread_setup, monkeypatch, capsys):
    class WrongActivation(Reference):
        """Built as if the spec said tanh: diverges at the first activation."""

        def __init__(self, model_spec, train_spec, params, **kwargs):
            super().__init__(replace(model_spec, activation="tanh"), train_spec, params, **kwargs)

    monkeypatch.setattr(
        "harness.parity.suite.model_class", lambda name: WrongActivation if name == "torch" else Reference
    )
    argv = [
        "parity",
        "--variants",
        "relu-he-sgd",
        "--frameworks",
        "numpy,torch",
        "--dtype",
        "float64",
        "--device",
        "cpu",
    ]
    status = main(argv)
    out = capsys.readouterr().out
    assert status == 1
    assert "FIRST DIVERGENCE numpy-vs-torch relu-he-sgd float64: act0 (forward-train)" in out
    assert "parity FAILED" in out


def test_cli_rejects_steps_that_are_not_whole_epochs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["parity", "--steps", str(DEFAULT_STEPS + 1)])
    assert exit_info.value.code == 2
    assert f"multiple of {PARITY_STEPS_PER_EPOCH}" in capsys.readouterr().err
