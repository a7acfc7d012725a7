"""The conventions study: each arm switches exactly the settings it names; the report's paired statistics; a
planted big effect ranks first; a rerun trains nothing; fit's snapshots do not change training."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from harness.catalog.studies import ALIGNED, ALL, STUDIES, SWITCHES, ConventionsStudy, Switch, study_arms
from harness.catalog.variants import get_variant
from harness.cli.main import main
from harness.core.conventions import library_defaults
from harness.core.defaults import LibraryDefault, defaults_mode, setting_value
from harness.core.errors import SpecError
from harness.core.frameworks import model_class, plugin
from harness.core.initializers import initial_params
from harness.core.specs import spec_to_dict
from harness.data.loader import load_dataset
from harness.data.preprocess import prepare_arrays
from harness.report import stats
from harness.report.study import build_study_report
from harness.run.executor import InProcessExecutor
from harness.run.snapshots import distance
from harness.run.study import run_study

STUDY = STUDIES["conventions"]


def _flat(data, prefix=""):
    """{'optimizer.eps': 1e-07, ...} of a spec_to_dict."""
    if not isinstance(data, dict):
        return {prefix: data}
    return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()}


def _changed_fields(arm, aligned):
    before = _flat({"model": spec_to_dict(aligned.model), "train": spec_to_dict(aligned.train)})
    after = _flat({"model": spec_to_dict(arm.model), "train": spec_to_dict(arm.train)})
    return {key.rstrip(".") for key in before if before[key] != after[key]}


# Where each setting of harness.core.defaults lives in the flattened specs.
SPEC_FIELDS = {
    "init": "model.init.",
    "bn.momentum": "model.batch_norm.momentum",
    "bn.eps": "model.batch_norm.eps",
    "bn.running_var": "model.batch_norm.running_var",
}


def _field_of(setting):
    return SPEC_FIELDS.get(setting) or f"train.optimizer.{setting.partition('.')[2]}"


@pytest.mark.parametrize("variant", STUDY.variants, ids=lambda v: v.name)
def test_each_single_arm_switches_exactly_its_convention_and_nothing_else(variant):
    arms = study_arms(STUDY, variant)
    aligned = arms[0]
    assert aligned.name == ALIGNED and _changed_fields(aligned, aligned) == set()
    switches = {switch.name: switch for switch in SWITCHES}
    for arm in arms[1:]:
        changed = _changed_fields(arm, aligned)
        assert changed, f"{arm.name} changes nothing"
        if arm.switch == ALL:
            continue
        allowed = [_field_of(s) for s in switches[arm.switch].settings_for(variant.train)]
        assert all(any(field.startswith(a) for a in allowed) for field in changed), (arm.name, changed)
        assert len(arm.changed) == len({a for a in allowed if any(f.startswith(a) for f in changed)})
        # The new value is the library's default.
        for setting in switches[arm.switch].settings_for(variant.train):
            if any(field.startswith(_field_of(setting)) for field in changed):
                assert setting_value(setting, arm.model, arm.train) == library_defaults(arm.framework)[setting].value


def test_arms_exist_only_where_their_convention_applies():
    names = {variant.name: {arm.name for arm in study_arms(STUDY, variant)} for variant in STUDY.variants}
    assert {"bn-momentum=keras", "bn-eps=torch", "bn-running-variance=keras"} <= names["relu-he-batchnorm"]
    assert not any(name.startswith("bn-") for name in names["relu-he"])
    assert "rmsprop-rho=torch" in names["relu-he-rmsprop"] and "rmsprop-rho=torch" not in names["relu-he"]
    assert "adagrad-initial-accumulator=torch" in names["relu-he-adagrad"]
    # Keras' Glorot-uniform is relu-xavier's own initialiser: no arm, and its "all" arm shares the update-rule cells.
    xavier = {arm.name: arm for arm in study_arms(STUDY, get_variant("relu-xavier"))}
    assert "init=keras" not in xavier and xavier["all=keras"].cells_arm == "update-rule=keras"
    # relu-he-adam is relu-he: studied once.
    assert "relu-he-adam" not in {variant.name for variant in STUDY.variants}


def test_the_all_arm_is_the_library_defaults_mode_keeping_what_users_write():
    variant = get_variant("relu-he-rmsprop")
    arm = next(a for a in study_arms(STUDY, variant) if a.name == "all=torch")
    assert (arm.model, arm.train) == defaults_mode(library_defaults("torch"), variant.model, variant.train)
    assert arm.train.optimizer.lr == variant.train.optimizer.lr  # the learning rate is the user's
    assert arm.train.optimizer.rho == 0.99 and arm.train.optimizer.eps == 1e-8
    assert arm.model.init.scheme == "fan_in_uniform" and arm.model.init.bias == "like_weights"


def test_fit_snapshots_cut_epochs_without_changing_training():
    variant = get_variant("relu-he-batchnorm").for_data(64, 10)
    train = replace(variant.train, epochs=2, batch_size=32)
    arrays = prepare_arrays(load_dataset("digits", None), "unit", "none", "float32")
    mlp = model_class("numpy")
    params = initial_params(variant.model, 0, "float32")
    steps = len(arrays.x_train) // 32 + 1
    plain = mlp(variant.model, train, params, steps_per_epoch=steps)
    plain.fit(arrays.x_train, arrays.y_train)
    cut = mlp(variant.model, train, params, steps_per_epoch=steps)
    seen = {}
    cut.fit(arrays.x_train, arrays.y_train, snapshot_steps=(0, 1, 10, steps, 10_000), on_snapshot=seen.__setitem__)
    assert sorted(seen) == [0, 1, 10, steps]  # a step training never reaches gives no snapshot
    for key, value in plain.get_params().items():
        np.testing.assert_array_equal(cut.get_params()[key], value, err_msg=key)
    np.testing.assert_array_equal(seen[0]["dense0.W"], params["dense0.W"])


PLANTED_EPS = 1.0
"""An Adam epsilon far above √v: updates shrink to lr·m, so training nearly stops (a planted large effect)."""


@pytest.fixture
def planted_study(monkeypatch, tmp_path):
    """A three-seed study on digits whose torch table says Adam's eps is PLANTED_EPS (three seeds, so that a
    consistent effect passes the paired t-test after Holm's adjustment: with two, one degree of freedom)."""
    torch_defaults = dict(plugin("torch").library_defaults)
    torch_defaults["adam.eps"] = LibraryDefault(PLANTED_EPS, "planted by the test")
    monkeypatch.setattr(plugin("torch"), "library_defaults", torch_defaults)
    switches = tuple(s for s in SWITCHES if s.name in ("optimizer-eps", "update-rule"))
    study = ConventionsStudy(
        "planted", "a planted effect", (get_variant("relu-he"),), switches, 3, 3, "digits", (0, 1, 10)
    )
    out = tmp_path / "study"
    result = run_study(study, out, InProcessExecutor(1, ("numpy",)), data_dir=None, threads=1, jobs=1)
    return study, out, result


def test_a_planted_big_effect_ranks_first_with_its_paired_interval(planted_study):
    _, out, result = planted_study
    assert not result.not_ok()
    report = build_study_report(out)
    effects = report.effects
    top = effects.iloc[0]
    assert top["arm"] in ("optimizer-eps=torch", "all=torch") and top["difference"] < -0.1
    assert top["call"] == "differs"
    assert report.by_convention().iloc[0]["convention"] in ("optimizer-eps", "all")
    # The paired statistics are stats.difference over the seeds' accuracies.
    cells = {
        r.variant + "/" + str(r.seed): r.result.test_accuracy
        for run in result.passes.values()
        for r in run.records.values()
    }
    aligned = {seed: cells[f"relu-he.aligned/{seed}"] for seed in (0, 1, 2)}
    planted = {seed: cells[f"relu-he.optimizer-eps_torch/{seed}"] for seed in (0, 1, 2)}
    expected = stats.difference(aligned, planted)
    row = effects[effects["arm"] == "optimizer-eps=torch"].iloc[0]
    assert row["difference"] == pytest.approx(expected.mean) and row["low"] == pytest.approx(expected.low)
    assert row["n_pairs"] == 3
    # The eps arm starts from the aligned weights and leaves them after the first step.
    assert row["distance_step0"] == 0 and row["distance_step1"] > 0
    for name in ("report.md", "effects.csv", "effects.json", "conventions.csv", "accuracies.csv", "curves.csv"):
        assert (out / name).is_file(), name
    assert (out / "plots" / "accuracy_differences.png").is_file()
    assert (out / "plots" / "divergence_optimizer-eps.png").is_file()
    assert "optimizer-eps=torch" in (out / "report.md").read_text()


def test_rerunning_a_finished_study_trains_nothing(planted_study):
    study, out, first = planted_study
    assert first.trained > 0
    again = run_study(study, out, InProcessExecutor(1, ("numpy",)), data_dir=None, threads=1, jobs=1)
    assert again.trained == 0
    # A deleted distance file makes its cell train again (and only that one).
    next((out / "distances").glob("*.json")).unlink()
    third = run_study(study, out, InProcessExecutor(1, ("numpy",)), data_dir=None, threads=1, jobs=1)
    assert third.trained == 1


def test_the_aligned_arm_of_a_seed_is_compared_with_itself_nowhere():
    arms = study_arms(STUDY, get_variant("relu-he"))
    assert sum(arm.name == ALIGNED for arm in arms) == 1
    assert len({arm.cells_variant for arm in arms}) == len({arm.cells_arm for arm in arms})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variants", "no-such-variant"], "unknown variant 'no-such-variant'"),
        (["--seeds", "1"], "needs at least 2 seeds"),
        (["--in-frameworks", "numpy"], "no library defaults listed for numpy"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, tmp_path, capsys):
    code = main(["study", "conventions", "--dataset", "digits", "--out", str(tmp_path / "s"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_switch_of_an_unknown_setting_is_refused():
    with pytest.raises(SpecError, match="not a library setting"):
        study_arms(replace(STUDY, switches=(Switch("x", None, ("adam.nonsense",), "x"),)), get_variant("relu-he"))


def test_snapshot_steps_reach_past_a_thousand_steps_on_mnist():
    # 3 epochs of 60,000 rows at batch 128 are 1,407 steps: the 1,000-step snapshot is inside the run.
    assert max(STUDY.snapshot_steps) <= STUDY.epochs * math.ceil(60_000 / 128)


def test_a_batch_norm_statistic_convention_moves_the_running_statistics_only(tmp_path):
    switches = tuple(s for s in SWITCHES if s.name == "bn-momentum")
    variant = get_variant("relu-he-batchnorm")
    study = ConventionsStudy("bn", "bn momentum", (variant,), switches, 2, 1, "digits", (0, 1, 10))
    out = tmp_path / "study"
    run_study(study, out, InProcessExecutor(1, ("numpy",)), data_dir=None, threads=1, jobs=1)
    distances = build_study_report(out).distances
    arm = distances[distances["variant"] == "relu-he-batchnorm.bn-momentum_keras"]
    assert set(arm["step"]) == {0, 1, 10}
    assert (arm["relative"] == 0).all()  # training-mode outputs do not read the running statistics
    assert (arm.loc[arm["step"] > 0, "running_stats_relative"] > 0).all()


def test_distance_is_relative_to_the_aligned_parameters():
    reference = {"dense0.W": np.array([[3.0, 0.0]]), "dense0.b": np.array([4.0]), "bn0.running_var": np.ones(2)}
    moved = {"dense0.W": np.array([[3.0, 1.0]]), "dense0.b": np.array([4.0]), "bn0.running_var": np.ones(2)}
    found = distance(moved, reference)
    assert found == {"l2": 1.0, "relative": 0.2, "running_stats_relative": 0.0}
