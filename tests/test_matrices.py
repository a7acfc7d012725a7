"""Named matrices as data, the reproduction rows and their published numbers, narrowing, TOML matrices and errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from harness.catalog.matrices import MATRICES, MATRIX_ALIASES, get_matrix
from harness.catalog.matrix_file import load_matrix_file
from harness.catalog.variants import LINCOLN_SEED, get_variant
from harness.cli.main import main
from harness.core.errors import MatrixFileError
from harness.run.runner import matrix_cells

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "matrix.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_matrix_is_seven_variants_by_three_frameworks_by_three_seeds_with_unique_keys():
    matrix = MATRICES["default"]
    cells = matrix_cells(matrix)
    assert len(cells) == 7 * 3 * 3
    assert {cell.framework for cell in cells} == {"numpy", "torch", "keras"}
    assert {cell.seed for cell in cells} == {0, 1, 2}
    assert len({cell.key for cell in cells}) == len(cells)
    assert all(cell.train_spec.epochs == matrix.epochs for cell in cells)
    assert all(cell.train_spec.optimizer.name == "adam" and cell.train_spec.batch_size == 128 for cell in cells)
    assert all(cell.model_spec.hidden_sizes == (256, 256) for cell in cells)


def test_cell_keys_are_stable_file_names_that_change_with_the_spec():
    first, again = matrix_cells(MATRICES["default"])[0], matrix_cells(MATRICES["default"])[0]
    assert first.key == again.key
    assert first.key.startswith("mnist--relu-normal--numpy--seed0--")
    assert all(ch.isalnum() or ch in "-._" for ch in first.key)
    longer = matrix_cells(MATRICES["default"].narrowed(epochs=7))[0]
    assert longer.key != first.key and longer.train_spec.epochs == 7


def test_every_named_matrix_expands_and_every_seed_row_has_a_number_or_says_why_not():
    for name, matrix in MATRICES.items():
        cells = matrix_cells(matrix)
        assert len(cells) == len(matrix.rows) * len(matrix.frameworks) * len(matrix.seeds), name
        if name.startswith("repro-"):
            for row in matrix.rows:
                assert row.published is not None or "no number" in row.note, (name, row.variant.name)


def test_reproduction_rows_carry_the_seed_documents_numbers_and_setups():
    lecture = {row.variant.name: row for row in MATRICES["repro-lecture"].rows}
    # TF 1.x RandomNormal() had std 1.0: the 85.35% row; Keras 2/3's std 0.05 carries no number.
    assert lecture["lecture-normal-std1"].published.value == 0.8535
    assert lecture["lecture-normal-std1"].variant.model.init.std == 1.0
    assert lecture["lecture-normal-std005"].published is None
    assert lecture["lecture-xavier"].published.value == 0.9650
    for row in lecture.values():
        train = row.variant.train
        assert train.epochs == 1 and train.drop_last and train.steps_per_epoch(60_000) == 468
        assert (train.optimizer.eps, train.optimizer.form) == (1e-8, "epsilon-hat")
    batch_norm = lecture["lecture-he-batchnorm"].variant.model.batch_norm
    assert (batch_norm.momentum, batch_norm.eps) == (0.99, 1e-3)
    fashion = MATRICES["repro-fashion"]
    assert fashion.dataset == "fashion-mnist" and fashion.rows[0].published.value == 0.8429
    assert fashion.rows[0].variant.model.hidden_sizes == () and fashion.rows[0].variant.train.epochs == 10

    lincoln = MATRICES["repro-lincoln"]
    assert lincoln.scaling == "standardize" and lincoln.seeds == (LINCOLN_SEED,)
    published = [row.variant.name for row in lincoln.rows if row.published is not None]
    assert published == [f"lincoln-000-{letter}" for letter in "abcdefghij"]
    assert any("000-k" in note for note in lincoln.notes)
    for row in lincoln.rows:
        model, train = row.variant.model, row.variant.train
        assert train.batch_size == 60 and train.seed == LINCOLN_SEED and train.dtype == "float64"
        assert train.early_stopping.enabled and train.early_stopping.patience == 1
        # the notebook measured `model`, which lincoln's restore never touched
        assert not train.early_stopping.restore_best
        assert train.early_stopping.eval_every == (1 if row.variant.name == "lincoln-000-e" else 10)
        expected_eval_loss = "clipped_softmax_bce" if model.loss == "softmax_ce" else "training"
        assert model.eval_loss == expected_eval_loss
    assert get_variant("lincoln-000-b").model.loss == "mse_normalized"
    for letter in "hij":
        assert get_variant(f"lincoln-000-{letter}").model.init.scheme == "glorot_variance_as_std"
    assert get_variant("lincoln-000-h-true-glorot").model.init.scheme == "glorot_normal"
    # what the notebook trained for 000-j: 000-i's network without dropout, 100 epochs from lr 0.2
    ran = get_variant("lincoln-000-j")
    assert not ran.model.has_dropout and ran.train.epochs == 100 and ran.train.optimizer.lr == 0.2
    dropout = get_variant("lincoln-000-j-dropout").model
    assert dropout.dropout == (0.2,) and dropout.dropout_style == "keep_prob"
    assert get_variant("lincoln-000-f").train.schedule.kind == "linear"
    assert get_variant("lincoln-000-g").train.schedule.kind == "exponential"
    assert get_variant("lincoln-000-e").train.optimizer.form == "velocity"

    raschka = MATRICES["repro-raschka"]
    row = raschka.rows[0]
    assert raschka.validation == "last-5000" and raschka.scaling == "symmetric" and raschka.eval_split == "validation"
    assert row.variant.train.optimizer.lr == pytest.approx(0.0005 * 100)
    assert row.variant.model.l2 == pytest.approx(0.01 / (2 * 100))
    assert row.published.value == 0.9798 and row.published.metric == "validation_accuracy"
    assert "0.05" in row.note and "5e-5" in row.note

    optimizers = {row.variant.name: row for row in MATRICES["repro-saito"].rows}
    assert optimizers["saito-sgd"].published.value == 0.91 and optimizers["saito-adam"].published.value == 0.97
    assert optimizers["saito-momentum"].published is None
    assert optimizers["saito-sgd"].published.illustrative and optimizers["saito-adam"].published.illustrative
    for row in optimizers.values():
        train = row.variant.train
        assert train.sampling == "with_replacement" and train.max_steps == 2000 and train.batch_size == 128


def test_narrowing_picks_seeds_variants_frameworks_and_drops_published_numbers_on_another_data_set():
    lecture = MATRICES["repro-lecture"]
    narrowed = lecture.narrowed(frameworks=["torch"], variants=["lecture-xavier", "tanh-xavier"], seeds=2)
    assert narrowed.frameworks == ("torch",) and narrowed.seeds == (0, 1)
    assert narrowed.variant_names() == ["lecture-xavier", "tanh-xavier"]
    assert narrowed.rows[0].published.value == 0.9650 and narrowed.rows[1].published is None
    on_digits = narrowed.narrowed(dataset="digits")
    assert all(row.published is None for row in on_digits.rows)
    # A target accuracy holds for its data set only, like a published number; one given with it is kept.
    assert lecture.target_accuracy is not None and on_digits.target_accuracy is None
    assert lecture.narrowed(dataset="digits", target_accuracy=0.8).target_accuracy == 0.8
    assert MATRICES["repro-lincoln"].narrowed(seeds=2).seeds == (LINCOLN_SEED, LINCOLN_SEED + 1)
    with pytest.raises(Exception, match="unknown variant 'relu-hee'"):
        lecture.narrowed(variants=["relu-hee"])
    with pytest.raises(Exception, match=r"unknown framework 'mxnet'.*numpy, torch, keras, jax"):
        lecture.narrowed(frameworks=["mxnet"])
    assert lecture.frameworks == ("numpy", "torch", "keras")  # jax, an optional extra, runs only when named
    assert lecture.narrowed(frameworks=["numpy", "jax"]).frameworks == ("numpy", "jax")


def test_cells_are_sized_for_the_data_set():
    cells = matrix_cells(MATRICES["default"].narrowed(dataset="digits"))
    assert all(cell.model_spec.input_size == 64 and cell.model_spec.output_size == 10 for cell in cells)


def test_example_toml_matrix_loads_with_its_grid_expanded_by_product():
    matrix = get_matrix(str(EXAMPLE))
    names = matrix.variant_names()
    assert names[:3] == ["relu-he", "relu-xavier", "relu-he-128"]
    grid = [name for name in names if name.startswith("momentum.")]
    assert len(grid) == 4  # 2 learning rates × 2 activations
    by_name = {row.variant.name: row.variant for row in matrix.rows}
    point = by_name["momentum.lr-0.05.activation-tanh"]
    assert point.train.optimizer.lr == 0.05 and point.model.activation == "tanh"
    assert point.train.optimizer.name == "momentum"  # the rest of the base optimiser is kept
    assert by_name["relu-he-128"].model.hidden_sizes == (128,) and by_name["relu-he-128"].train.batch_size == 64
    assert by_name["relu-he-128"].model.init == get_variant("relu-he").model.init
    assert matrix.seeds == (0, 1) and matrix.epochs == 2


def test_toml_variant_without_base_and_with_published_number(tmp_path):
    path = _write(
        tmp_path,
        """
        dataset = "digits"
        seeds = [4, 9]
        [[variant]]
        name = "tiny"
        model = { hidden_sizes = [16], activation = "tanh", init = { scheme = "normal", std = 0.1 } }
        train = { optimizer = { name = "sgd", lr = 0.1 }, batch_size = 32, epochs = 2 }
        published = { value = 0.9, source = "a test", note = "made up for the test" }
        """,
    )
    matrix = load_matrix_file(path)
    (row,) = matrix.rows
    assert row.variant.model.hidden_sizes == (16,) and row.variant.model.init.std == 0.1
    assert row.variant.train.optimizer.name == "sgd" and row.variant.train.epochs == 2
    assert row.published.value == 0.9 and matrix.seeds == (4, 9)
    (cell, *_) = matrix_cells(matrix)
    assert cell.published.to_json()["source"] == "a test"
    assert matrix.target_accuracy is None and cell.target_accuracy is None


def test_toml_target_accuracy_reaches_every_cell_without_changing_its_key(tmp_path):
    path = _write(tmp_path, 'variants = ["relu-he"]\ndataset = "digits"\ntarget_accuracy = 0.9')
    matrix = load_matrix_file(path)
    cells = matrix_cells(matrix)
    assert matrix.target_accuracy == 0.9 and matrix.to_dict()["target_accuracy"] == 0.9
    assert {cell.target_accuracy for cell in cells} == {0.9}
    untargeted = matrix_cells(replace(matrix, target_accuracy=None))
    assert [cell.key for cell in untargeted] == [cell.key for cell in cells]


def test_the_execution_mode_is_exact_unless_a_matrix_or_the_command_line_says_fast(tmp_path):
    assert all(matrix.mode == "exact" for matrix in MATRICES.values())
    assert MATRICES["default"].narrowed(mode="fast").mode == "fast"
    matrix = load_matrix_file(_write(tmp_path, 'variants = ["relu-he"]\ndataset = "digits"\nmode = "fast"'))
    (cell, *_) = matrix_cells(matrix)
    assert matrix.to_dict()["mode"] == "fast" and cell.mode == "fast" and cell.key.endswith("--fast")
    exact = matrix_cells(replace(matrix, mode="exact"))[0]
    assert exact.key == cell.key.removesuffix("--fast")


def test_every_named_matrix_names_a_target_accuracy():
    assert all(0.5 < matrix.target_accuracy < 1.0 for matrix in MATRICES.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('variants = ["relu-he"]\nepoch = 3', r"unknown key\(s\) \['epoch'\]; valid keys: name, .*epochs"),
        ('variants = ["relu-hee"]', "unknown variant 'relu-hee'.*relu-he"),
        (
            'variants = ["relu-he"]\nframeworks = ["mxnet"]',
            "unknown framework 'mxnet'; choose from: numpy, torch, keras, jax",
        ),
        ('variants = ["relu-he"]\ndataset = "cifar"', "unknown data set 'cifar'; choose from: mnist"),
        ('variants = ["relu-he"]\nscaling = "minmax"', "unknown scaling 'minmax'; choose from: unit, symmetric"),
        ('variants = ["relu-he"]\nseeds = "three"', "seeds = 'three': give a count"),
        ('variants = ["relu-he"]\ntarget_accuracy = 97', "target_accuracy=97.0 is an accuracy fraction"),
        ('variants = ["relu-he"]\nmode = "xla"', "unknown execution mode 'xla'; choose from: exact, fast"),
        ('variants = ["relu-he"]\ntarget_accuracy = "high"', "target_accuracy = 'high': give an accuracy"),
        ('[[variant]]\nname = "x"\nbase = "relu-he"\nmodel = { activation = "relux" }', "activation='relux'.*relu"),
        ('[[variant]]\nname = "x"\nbase = "relu-he"\nmodel = { hiden_sizes = [3] }', "unknown field 'hiden_sizes'"),
        ('[[variant]]\nname = "x"\nbase = "relu-he"\ntrain = { optimizer = { nam = "sgd" } }', "no field.*nam"),
        ('[[variant]]\nbase = "relu-he"', "has no name"),
        ('[[variant]]\nname = "x"\ncolour = "red"', r"unknown key\(s\) \['colour'\]; valid keys: name, base"),
        ('[[grid]]\nbase = "relu-he"\naxes = { "activation" = ["tanh"] }', "must start with 'model.' or 'train.'"),
        ('[[grid]]\nbase = "relu-he"\naxes = { "model.activation" = [] }', "non-empty lists"),
        ("name = 'empty'", "names no variants"),
        ("variants = [", "not valid TOML"),
    ],
)
def test_toml_errors_name_the_problem_and_list_what_is_valid(tmp_path, text, message):
    with pytest.raises(MatrixFileError, match=message):
        load_matrix_file(_write(tmp_path, text))


def test_missing_matrix_file_and_unknown_matrix_name_are_errors():
    with pytest.raises(MatrixFileError, match="does not exist"):
        get_matrix("no/such/matrix.toml")
    with pytest.raises(Exception, match="unknown matrix 'defualt'; choose one of: default, optimizers"):
        get_matrix("defualt")


def test_repeated_variant_names_are_rejected():
    matrix = MATRICES["default"]
    with pytest.raises(Exception, match="more than once"):
        replace(matrix, rows=(matrix.rows[0], matrix.rows[0]))


def test_the_earlier_seed_names_are_deprecated_aliases_of_the_reproduction_matrices(capsys):
    for alias, name in MATRIX_ALIASES.items():
        assert get_matrix(alias) is MATRICES[name] and name.startswith("repro-")
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "deprecated: use repro-lincoln" in out and "seed-lincoln" in out
    descriptions = " ".join(matrix.description for matrix in MATRICES.values())
    assert "seed 00" not in descriptions


def test_running_a_matrix_by_its_deprecated_name_says_so(tmp_path, capsys):
    assert main(["run", "--matrix", "seed-lecture", "--variants", "no-such-variant", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "the matrix name 'seed-lecture' is deprecated; it is now 'repro-lecture'" in err
    assert "no-such-variant" in err
