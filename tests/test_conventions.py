"""The conventions table: native_specs, form_differences, and the table's claims checked against torch, Keras, JAX
and optax (each claim skipped with the reason when its library is not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.core.conventions import (
    CONVENTIONS,
    CONVENTIONS_BY_NAME,
    conventions_markdown,
    form_differences,
    native_specs,
)
from harness.core.frameworks import plugin
from harness.core.specs import OPTIMIZER_FORMS, BatchNormSpec, ModelSpec, OptimizerSpec, TrainSpec

BN_MODEL = ModelSpec(4, (3,), 2, batch_norm=BatchNormSpec(momentum=0.9, eps=1e-3, running_var="unbiased"))
PLAIN_MODEL = ModelSpec(4, (3,), 2)


def _train(name: str, dtype: str = "float64", **optimizer) -> TrainSpec:
    return TrainSpec(optimizer=OptimizerSpec(name, **optimizer), dtype=dtype)


@pytest.mark.parametrize("framework", ["torch", "keras", "jax"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZER_FORMS))
def test_native_specs_set_the_framework_forms(framework, optimizer):
    registered = plugin(framework)
    for form in OPTIMIZER_FORMS[optimizer]:
        model, train = native_specs(BN_MODEL, _train(optimizer, form=form), framework)
        assert train.optimizer.form == registered.optimizer_forms[optimizer]
        assert model.batch_norm.running_var == registered.running_var
        assert model.batch_norm.momentum == BN_MODEL.batch_norm.momentum


def test_forms_are_named_by_rule_and_the_framework_names_of_schema_1_still_load():
    assert OptimizerSpec("momentum").form == "gradient-buffer"
    assert OptimizerSpec("momentum", form="keras").form == "velocity"
    assert OptimizerSpec("adam", form="torch").form == "eps-outside-root"
    assert OptimizerSpec("adam", form="keras").form == "epsilon-hat"
    assert OptimizerSpec("sgd", form="keras").form == "plain"
    with pytest.raises(ValueError, match=r"form='velocity' is not valid; choose one of: eps-outside-root, epsilon"):
        OptimizerSpec("adam", form="velocity")


def test_native_specs_leave_the_reference_spec_alone():
    train = _train("adam", form="keras")
    assert native_specs(BN_MODEL, train, "numpy") == (BN_MODEL, train)


@pytest.mark.parametrize(
    ("model", "train", "expected"),
    [
        (PLAIN_MODEL, _train("sgd"), ()),
        (PLAIN_MODEL, _train("adam", eps=1e-7), ("adam-epsilon-hat",)),
        (PLAIN_MODEL, _train("adam", eps=0.0), ()),
        (PLAIN_MODEL, _train("adam", "float32", eps=0.0), ("adam-bias-correction-dtype",)),
        (PLAIN_MODEL, _train("rmsprop", eps=1e-7), ("eps-inside-root",)),
        (PLAIN_MODEL, _train("adagrad", eps=1e-7, initial_accumulator=0.1), ("eps-inside-root",)),
        (PLAIN_MODEL, _train("adagrad", eps=0.0, initial_accumulator=0.1), ()),
        (PLAIN_MODEL, _train("nesterov"), ("momentum-velocity-form",)),
        (BN_MODEL, _train("momentum"), ("bn-running-variance", "momentum-velocity-form")),
    ],
    ids=[
        "sgd",
        "adam",
        "adam-eps0",
        "adam-eps0-float32",
        "rmsprop",
        "adagrad",
        "adagrad-eps0",
        "nesterov",
        "bn-momentum",
    ],
)
def test_form_differences_name_the_unaligned_conventions(model, train, expected):
    assert form_differences(model, train, "torch", "keras") == expected
    assert form_differences(model, train, "keras", "torch") == expected
    assert form_differences(model, train, "keras", "keras") == ()


# optax mixes the forms: its Adam and momentum are torch's, its AdaGrad Keras', its RMSprop either (Keras' picked).
@pytest.mark.parametrize(
    ("other", "model", "train", "expected"),
    [
        ("torch", PLAIN_MODEL, _train("adam", "float32", eps=1e-7), ()),
        ("torch", PLAIN_MODEL, _train("nesterov"), ()),
        ("torch", PLAIN_MODEL, _train("rmsprop", eps=1e-7), ("eps-inside-root",)),
        ("torch", PLAIN_MODEL, _train("adagrad", eps=1e-7, initial_accumulator=0.1), ("eps-inside-root",)),
        ("torch", BN_MODEL, _train("sgd"), ("bn-running-variance",)),
        ("keras", PLAIN_MODEL, _train("adam", "float32", eps=1e-7), ("adam-epsilon-hat", "adam-bias-correction-dtype")),
        ("keras", PLAIN_MODEL, _train("momentum"), ("momentum-velocity-form",)),
        ("keras", PLAIN_MODEL, _train("rmsprop", eps=1e-7), ()),
        ("keras", BN_MODEL, _train("adagrad", eps=1e-7), ()),
        ("numpy", BN_MODEL, _train("adam", eps=1e-7, form="epsilon-hat"), ("bn-running-variance", "adam-epsilon-hat")),
    ],
    ids=[
        "torch-adam",
        "torch-nesterov",
        "torch-rmsprop",
        "torch-adagrad",
        "torch-bn",
        "keras-adam-float32",
        "keras-momentum",
        "keras-rmsprop",
        "keras-bn-adagrad",
        "reference-as-given",
    ],
)
def test_form_differences_between_jax_and_another_framework(other, model, train, expected):
    assert form_differences(model, train, other, "jax") == expected


def test_the_table_is_complete_and_printable():
    names = [c.name for c in CONVENTIONS]
    assert len(set(names)) == len(names)
    # Every difference form_differences can name is an unaligned row of the table.
    named = {
        name
        for model in (PLAIN_MODEL, BN_MODEL)
        for optimizer in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
        for name in form_differences(model, _train(optimizer), "torch", "keras")
    }
    assert named <= {c.name for c in CONVENTIONS if not c.aligned}
    for required in ("bn-momentum", "bn-eps", "dropout-scaling", "float64-hyperparameters", "loss-dtype"):
        assert CONVENTIONS_BY_NAME[required].aligned
    table = conventions_markdown()
    assert all(c.topic in table and c.why in table for c in CONVENTIONS)
    assert table.count("\n") == len(CONVENTIONS) + 2


# --- the claims, measured on the installed frameworks ------------------------------------------------------------

MOMENTUM = 0.9
BATCH = np.random.default_rng(0).random((8, 3))


def test_bn_momentum_and_running_variance_in_torch():
    torch = pytest.importorskip("torch")
    layer = torch.nn.BatchNorm1d(3, momentum=1 - MOMENTUM, dtype=torch.float64)
    layer.train()
    layer(torch.from_numpy(BATCH))
    # Spec momentum 0.9 (Keras meaning) is torch momentum 0.1; torch averages the unbiased variance.
    np.testing.assert_allclose(layer.running_mean.numpy(), (1 - MOMENTUM) * BATCH.mean(0), rtol=1e-14)
    expected_var = MOMENTUM + (1 - MOMENTUM) * BATCH.var(0, ddof=1)
    np.testing.assert_allclose(layer.running_var.numpy(), expected_var, rtol=1e-14)


def test_bn_momentum_and_running_variance_in_keras():
    keras = pytest.importorskip("keras")
    layer = keras.layers.BatchNormalization(momentum=np.float64(MOMENTUM), epsilon=1e-3, dtype="float64")
    layer(BATCH, training=True)
    np.testing.assert_allclose(np.asarray(layer.moving_mean), (1 - MOMENTUM) * BATCH.mean(0), rtol=1e-14)
    # Keras averages the biased variance: the bn-running-variance row.
    expected_var = MOMENTUM + (1 - MOMENTUM) * BATCH.var(0)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), expected_var, rtol=1e-14)
    assert not np.allclose(expected_var, MOMENTUM + (1 - MOMENTUM) * BATCH.var(0, ddof=1), rtol=1e-6)


def test_torch_default_float_type_is_float32_and_float64_arrays_stay_float64():
    torch = pytest.importorskip("torch")
    assert torch.get_default_dtype() == torch.float32
    assert torch.nn.Linear(2, 2).weight.dtype == torch.float32
    assert torch.from_numpy(np.zeros(2)).dtype == torch.float64


def test_keras_default_float_type_is_float32():
    keras = pytest.importorskip("keras")
    assert keras.config.floatx() == "float32"
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    assert layer.kernel.dtype == "float32"


def test_keras_casts_python_floats_through_float32():
    keras = pytest.importorskip("keras")
    assert float(keras.ops.cast(0.9, "float64")) != 0.9
    assert float(keras.ops.cast(np.float64(0.9), "float64")) == 0.9


def test_keras_float32_adam_takes_its_bias_correction_in_float32():
    keras = pytest.importorskip("keras")
    lr, beta2 = 1e-3, 0.999
    param = keras.Variable(np.zeros(1), dtype="float32")
    optimizer = keras.optimizers.Adam(lr, beta_1=0.9, beta_2=beta2, epsilon=0.0)
    optimizer.apply_gradients([(keras.ops.ones((1,)), param)])
    # With eps = 0 the first step is lr·√(1 − β₂ᵗ)/√(1 − β₂): exactly lr in exact arithmetic (torch's float64
    # scalars), but Keras takes β₂ᵗ = float32(0.999), whose 1 − β₂ᵗ is 1.3e-5 relative off.
    float32_correction = np.sqrt(1 - np.float32(beta2)) / np.sqrt(np.float32(1 - beta2))
    np.testing.assert_allclose(-np.asarray(param)[0], lr * float32_correction, rtol=1e-6)
    assert abs(-np.asarray(param)[0] / lr - 1) > 5e-6


def _torch_trajectory(make, grads, lrs):
    torch = pytest.importorskip("torch")
    param = torch.zeros(len(grads[0]), dtype=torch.float64, requires_grad=True)
    optimizer = make(torch.optim, [param])
    for grad, lr in zip(grads, lrs, strict=True):
        optimizer.param_groups[0]["lr"] = lr
        param.grad = torch.from_numpy(grad.copy())
        optimizer.step()
    return param.detach().numpy()


@pytest.fixture
def keras_float64():
    """Keras with floatx float64 (its optimisers' lr and iteration variables take floatx), restored afterwards."""
    keras = pytest.importorskip("keras")
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(previous)


def _keras_trajectory(keras, make, grads, lrs):
    param = keras.Variable(np.zeros(len(grads[0])), dtype="float64")
    optimizer = make(keras.optimizers, np.float64(lrs[0]))
    optimizer.build([param])
    for grad, lr in zip(grads, lrs, strict=True):
        optimizer.learning_rate.assign(np.float64(lr))
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grad), param)])
    return np.asarray(param)


# Gradients spanning small and large magnitudes, where eps placement matters.
GRADS = [np.array([1e-4, -3e-3, 0.2, -1.5]) * (1 + 0.1 * k) for k in range(6)]
CONSTANT_LR = [1e-2] * len(GRADS)
CHANGING_LR = [1e-2 * 0.5**k for k in range(len(GRADS))]
f64 = np.float64


@pytest.mark.parametrize(
    ("torch_optimizer", "keras_optimizer", "lrs"),
    [
        (
            lambda optim, ps: optim.Adam(ps, betas=(0.9, 0.999), eps=1e-7),
            lambda opt, lr: opt.Adam(lr, beta_1=f64(0.9), beta_2=f64(0.999), epsilon=f64(1e-7)),
            CONSTANT_LR,
        ),
        (
            lambda optim, ps: optim.RMSprop(ps, alpha=0.9, eps=1e-7),
            lambda opt, lr: opt.RMSprop(lr, rho=f64(0.9), epsilon=f64(1e-7)),
            CONSTANT_LR,
        ),
        (
            lambda optim, ps: optim.Adagrad(ps, initial_accumulator_value=0.0, eps=1e-7),
            lambda opt, lr: opt.Adagrad(lr, initial_accumulator_value=f64(0.0), epsilon=f64(1e-7)),
            CONSTANT_LR,
        ),
        (
            lambda optim, ps: optim.SGD(ps, momentum=0.9),
            lambda opt, lr: opt.SGD(lr, momentum=f64(0.9)),
            CHANGING_LR,
        ),
    ],
    ids=["adam-epsilon-hat", "rmsprop-eps-inside-root", "adagrad-eps-inside-root", "momentum-under-changing-lr"],
)
def test_unaligned_optimizer_forms_really_differ(keras_float64, torch_optimizer, keras_optimizer, lrs):
    torch_params = _torch_trajectory(torch_optimizer, GRADS, lrs)
    keras_params = _keras_trajectory(keras_float64, keras_optimizer, GRADS, lrs)
    assert np.abs(torch_params - keras_params).max() > 1e-6


@pytest.mark.parametrize(
    ("torch_optimizer", "keras_optimizer", "lrs"),
    [
        (
            lambda optim, ps: optim.Adam(ps, betas=(0.9, 0.999), eps=0.0),
            lambda opt, lr: opt.Adam(lr, beta_1=f64(0.9), beta_2=f64(0.999), epsilon=f64(0.0)),
            CONSTANT_LR,
        ),
        (
            lambda optim, ps: optim.RMSprop(ps, alpha=0.9, eps=0.0),
            lambda opt, lr: opt.RMSprop(lr, rho=f64(0.9), epsilon=f64(0.0)),
            CONSTANT_LR,
        ),
        (
            lambda optim, ps: optim.SGD(ps, momentum=0.9),
            lambda opt, lr: opt.SGD(lr, momentum=f64(0.9)),
            CONSTANT_LR,
        ),
    ],
    ids=["adam-eps0", "rmsprop-eps0", "momentum-constant-lr"],
)
def test_the_same_optimizers_agree_where_the_forms_coincide(keras_float64, torch_optimizer, keras_optimizer, lrs):
    torch_params = _torch_trajectory(torch_optimizer, GRADS, lrs)
    keras_params = _keras_trajectory(keras_float64, keras_optimizer, GRADS, lrs)
    np.testing.assert_allclose(keras_params, torch_params, rtol=1e-12, atol=1e-15)


def test_readme_carries_the_current_conventions_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert conventions_markdown() in readme, "README's parity table is stale: paste conventions_markdown() output"


# --- JAX's column, measured on the installed jax and optax ------------------------------------------------------


@pytest.fixture
def jax():
    return pytest.importorskip("jax", reason="jax is not installed (the optional extra: pip install 'fwcompare[jax]')")


@pytest.fixture
def optax(jax):
    return pytest.importorskip("optax", reason="optax is not installed (pip install 'fwcompare[jax]')")


def _optax_trajectory(jax, optax, make, grads, lrs):
    """float64 parameters after optax steps with per-step learning rates `lrs`, under a local x64."""
    with jax.enable_x64(True):
        rates = jax.numpy.asarray(lrs, jax.numpy.float64)
        optimizer = make(optax, lambda count: rates[count])
        param = jax.numpy.zeros(len(grads[0]), jax.numpy.float64)
        state = optimizer.init(param)
        for grad in grads:
            updates, state = optimizer.update(jax.numpy.asarray(grad), state, param)
            param = optax.apply_updates(param, updates)
        return np.asarray(param)


def test_jax_x64_is_off_by_default_and_a_context_enables_it_for_the_block(jax):
    with pytest.warns(UserWarning, match="truncated to dtype float32"):
        assert jax.numpy.asarray(np.zeros(2), dtype=np.float64).dtype == np.float32
    with jax.enable_x64(True):
        assert jax.numpy.asarray(np.zeros(2), dtype=np.float64).dtype == np.float64
    assert jax.config.jax_enable_x64 is False


def test_python_floats_take_the_array_dtype_under_x64(jax):
    with jax.enable_x64(True):
        # Weak typing: no float32 detour, unlike Keras' cast of a Python float.
        assert float((jax.numpy.ones(1, jax.numpy.float64) * 0.9)[0]) == 0.9
        assert (jax.numpy.ones(1, jax.numpy.float32) * 0.9).dtype == np.float32


def test_matmul_precision_is_unset_and_makes_no_difference_on_the_cpu(jax):
    if jax.default_backend() != "cpu":
        pytest.skip(f"measures the CPU backend; this machine's default is {jax.default_backend()}")
    assert jax.config.jax_default_matmul_precision is None
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 784), np.float32), rng.standard_normal((784, 256), np.float32)
    default = np.asarray(jax.numpy.dot(a, b))
    for precision in ("highest", "bfloat16"):
        with jax.default_matmul_precision(precision):
            np.testing.assert_array_equal(np.asarray(jax.numpy.dot(a, b)), default)
    # and the product is a true float32 one (a bfloat16 pass would be ~1e-2 off)
    np.testing.assert_allclose(default, a.astype(np.float64) @ b, rtol=0, atol=1e-3)


def test_optax_float32_adam_takes_its_bias_correction_in_the_default_float(jax, optax):
    def first_step() -> float:
        optimizer = optax.adam(1.0, b1=0.9, b2=0.999, eps=0.0)
        param = jax.numpy.zeros(1, jax.numpy.float32)
        updates, _ = optimizer.update(jax.numpy.ones(1, jax.numpy.float32), optimizer.init(param), param)
        return -float(updates[0])

    # With eps = 0 the first step is exactly lr = 1 in exact arithmetic. With x64 off, β₂ᵗ is float32(0.999)^1.
    assert abs(first_step() - 1) > 5e-6
    with jax.enable_x64(True):
        assert first_step() == 1.0


def test_optax_schedules_count_steps_in_int32_and_return_the_default_float(jax, optax):
    optimizer = optax.sgd(optax.linear_schedule(0.1, 0.01, 10))
    state = optimizer.init(jax.numpy.zeros(1, jax.numpy.float32))
    assert optax.tree.get(state, "count").dtype == np.int32
    assert optax.linear_schedule(0.1, 0.01, 10)(state[-1].count).dtype == np.float32


@pytest.mark.parametrize(
    ("optax_optimizer", "torch_optimizer"),
    [
        (lambda o, lr: o.sgd(lr, momentum=0.9), lambda optim, ps: optim.SGD(ps, momentum=0.9)),
        (
            lambda o, lr: o.sgd(lr, momentum=0.9, nesterov=True),
            lambda optim, ps: optim.SGD(ps, momentum=0.9, nesterov=True),
        ),
        (lambda o, lr: o.adam(lr, b1=0.9, b2=0.999, eps=1e-7), lambda optim, ps: optim.Adam(ps, eps=1e-7)),
        (
            lambda o, lr: o.rmsprop(lr, decay=0.9, eps=1e-7, eps_in_sqrt=False),
            lambda optim, ps: optim.RMSprop(ps, alpha=0.9, eps=1e-7),
        ),
    ],
    ids=["momentum", "nesterov", "adam", "rmsprop-eps-outside"],
)
def test_optax_rules_in_torchs_form(jax, optax, optax_optimizer, torch_optimizer):
    # The changing lr separates the velocity forms: optax's trace, like torch's buffer, is rescaled by the new lr.
    optax_params = _optax_trajectory(jax, optax, optax_optimizer, GRADS, CHANGING_LR)
    np.testing.assert_allclose(optax_params, _torch_trajectory(torch_optimizer, GRADS, CHANGING_LR), rtol=1e-12)


@pytest.mark.parametrize(
    ("optax_optimizer", "keras_optimizer", "torch_optimizer"),
    [
        (
            lambda o, lr: o.adagrad(lr, initial_accumulator_value=0.0, eps=1e-7),
            lambda opt, lr: opt.Adagrad(lr, initial_accumulator_value=f64(0.0), epsilon=f64(1e-7)),
            lambda optim, ps: optim.Adagrad(ps, initial_accumulator_value=0.0, eps=1e-7),
        ),
        (
            lambda o, lr: o.rmsprop(lr, decay=0.9, eps=1e-7),
            lambda opt, lr: opt.RMSprop(lr, rho=f64(0.9), epsilon=f64(1e-7)),
            lambda optim, ps: optim.RMSprop(ps, alpha=0.9, eps=1e-7),
        ),
    ],
    ids=["adagrad", "rmsprop-default"],
)
def test_optax_eps_inside_the_root_is_keras_form(
    jax, optax, keras_float64, optax_optimizer, keras_optimizer, torch_optimizer
):
    optax_params = _optax_trajectory(jax, optax, optax_optimizer, GRADS, CONSTANT_LR)
    np.testing.assert_allclose(
        optax_params, _keras_trajectory(keras_float64, keras_optimizer, GRADS, CONSTANT_LR), rtol=1e-12
    )
    assert np.abs(optax_params - _torch_trajectory(torch_optimizer, GRADS, CONSTANT_LR)).max() > 1e-6


def test_optax_adam_eps_root_sits_inside_the_root_of_the_bias_corrected_v(jax, optax):
    grad, eps_root = np.array([1e-4, -3e-3, 0.2]), 1e-6
    with jax.enable_x64(True):
        optimizer = optax.adam(1.0, b1=0.9, b2=0.999, eps=0.0, eps_root=eps_root)
        param = jax.numpy.zeros(3, jax.numpy.float64)
        updates, _ = optimizer.update(jax.numpy.asarray(grad), optimizer.init(param), param)
    # First step: m̂ = g and v̂ = g², so the update is g/√(g² + eps_root). Keras' epsilon-hat would need
    # g/(|g| + eps/√(1 − β₂ᵗ)): a constant eps_root cannot give that for every |g|.
    np.testing.assert_allclose(-np.asarray(updates), grad / np.sqrt(grad**2 + eps_root), rtol=1e-14)
