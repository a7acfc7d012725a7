"""`fwcompare port`: check a real port — two users' model objects (of the libraries whose plug-ins name a reader,
harness.core.frameworks.portable; of two libraries or of one) read into fwcompare's MLP, each checked against the
reference, and every setting in which they differ named with its measured effect (harness/parity/ports.py).
`fwcompare parity --model` is the same check, spelled as the issue tracker's users ask for it.

Exit status: 0 when both models are read and their readings reproduce their own outputs, 1 when a reading does
not, 2 when a model cannot be loaded or read (the layer it cannot map is named).
"""

from __future__ import annotations

import argparse

from tabulate import tabulate

from harness.byo.load import load_attribute
from harness.cli.args import step_count
from harness.core.errors import ImplementationError
from harness.core.frameworks import installed, plugin, portable, reference_name
from harness.core.specs import InitSpec
from harness.parity.inputs import DEFAULT_STEPS, PARITY_SEED

# Own output against the reference built from the reading: far below any real difference, above float32 rounding.
FAITHFUL_ATOL = 1e-4


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "port",
        help=f"check a real port: read two users' models ({_libraries(' / ')}) and measure every difference",
        description="Read each model (a file.py:name or module:name naming a model, or a function that returns "
        "one) into fwcompare's MLP — layer sizes, weights and every setting (BN momentum, epsilon and running "
        "variance, activation, dropout, initialiser) — check that the reading reproduces the model's own "
        "inference output, then name each setting in which they differ with its effect, measured on the reference "
        "with the left model's weights: forward passes, gradients and K SGD steps. "
        "`fwcompare parity --model LEFT --model RIGHT` (or --model LEFT --against FRAMEWORK) is the same check.",
    )
    parser.add_argument("left", metavar="LEFT", help="e.g. my_model.py:build")
    parser.add_argument("right", metavar="RIGHT", nargs="?", help="e.g. my_ported_model.py:build")
    add_against_argument(parser)
    parser.add_argument("--steps", type=step_count, default=DEFAULT_STEPS, metavar="K", help="SGD steps (default 10)")
    parser.set_defaults(handler=_port)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """--model, by which `fwcompare parity` spells `fwcompare port`."""
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="FILE.py:NAME",
        help=f"check a real port instead (as `fwcompare port` does): your {_libraries(' or ')} model, or a function "
        "returning it (and its optimiser); give two, or one and --against",
    )


def add_against_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--against",
        metavar="FRAMEWORK",
        help=f"instead of a second model: the model's network as FRAMEWORK ({' or '.join(portable())}) builds it with "
        f"its own defaults, or {reference_name()} for the reference alone",
    )


def _libraries(separator: str) -> str:
    """The labels of the frameworks whose models `port` reads ('PyTorch / Keras'), from the registry."""
    return separator.join(plugin(name).label for name in portable())


def _port(args: argparse.Namespace) -> int:
    return check_models([args.left] if args.right is None else [args.left, args.right], args.against, args.steps)


def _model(target: str) -> tuple:
    """(model, optimiser or None) that `target` names: a model, a (model, optimiser) pair, or a function returning
    either."""
    found = load_attribute(target, "model or function")
    if callable(found) and not hasattr(found, "parameters") and not hasattr(found, "layers"):
        try:
            found = found()
        except Exception as error:
            raise ImplementationError(f"{target}() raised {type(error).__name__}: {error}") from error
    return tuple(found) if isinstance(found, tuple | list) and len(found) == 2 else (found, None)


def _shown(value) -> str:
    """A setting as printed: an initialiser by its scheme and its biases' rule."""
    if isinstance(value, InitSpec):
        return f"{value.scheme}{' truncated' if value.truncated else ''}, biases {value.bias}"
    return str(value)


def _training(port) -> str:
    optimizer = port.optimizer
    return "SGD at lr 0.01 (no optimiser given)" if optimizer is None else f"its {optimizer.name}"


def check_models(targets: list[str], against: str | None, steps: int, with_parity_options: bool = False) -> int:
    """Read each target (a second model, or --against a framework's defaults or the reference alone), print the
    readings and every difference with its measured effect; the exit status. with_parity_options: `fwcompare parity`
    options given with --model, which does not take them."""
    from harness.parity.ports import MEASURED, differences, read, with_defaults_of

    if with_parity_options:
        raise ImplementationError("--model checks a port (as `fwcompare port` does); it takes no --impl or --variants")
    if len(targets) + (against is not None) != 2:
        raise ImplementationError(
            "give two models, or one model and --against FRAMEWORK (e.g. LEFT RIGHT, or --model LEFT --against "
            f"{reference_name()})"
        )
    for registered in installed(portable()):
        # Before a user's file imports the library, so that it loads as its plug-in loads it (TensorFlow without
        # its start-up log).
        registered.import_library()
    readings = [read(*_model(target)) for target in targets]
    ports = [reading.port for reading in readings]
    faithful = True
    for target, reading in zip(targets, readings, strict=True):
        port = reading.port
        ok = reading.own_vs_reference <= FAITHFUL_ATOL
        faithful &= ok
        print(f"{target}: {port.framework} MLP {'-'.join(map(str, port.model_spec.layer_sizes))}")
        for name, value in port.settings.items():
            print(f"  {name}: {_shown(value)}")
        for note in port.notes:
            print(f"  note: {note}")
        verdict = "OK" if ok else "NOT OK: the reading does not reproduce the model"
        distance = f"{reading.own_vs_reference:.1e}"
        print(f"  its own inference output vs the reference built from this reading: max abs {distance} {verdict}")
    if against == reference_name():
        print(
            f"against the {reference_name()} reference: it runs every setting as read, so the check above is the "
            "comparison (no setting differs)"
        )
        return 0 if faithful else 1
    if against is not None:
        ports.append(with_defaults_of(ports[0], against))
    effects = differences(ports[0], ports[1], steps)
    measured = [e for e in effects if e.changes is not None]
    if not effects:
        print("\nno setting differs: the two models are the same network")
    for effect in effects:
        if effect.changes is None:
            print(f"\n{effect.setting} differs, not measured (each model keeps its own weights):")
            print(f"  {ports[0].framework}: {_shown(effect.left)}\n  {ports[1].framework}: {_shown(effect.right)}")
    if measured:
        print(
            f"\nsettings that differ, and the largest absolute change each makes to the left model (the reference in "
            f"float64 with its weights, {steps} steps of {_training(ports[0])} on the same batches):"
        )
        rows = [
            [e.setting, _shown(e.left), _shown(e.right), *(f"{changes[c]:.1e}" for c in MEASURED)]
            for e in measured
            if (changes := e.changes) is not None
        ]
        headers = ["setting", ports[0].framework, ports[1].framework, *MEASURED]
        print(tabulate(rows, headers=headers, disable_numparse=True))
    for effect in measured:
        if effect.on_drawn_weights:
            print(
                f"\n{effect.setting}: measured on the left network started from weights drawn with each initialiser "
                f"out of one seed stream (seed {PARITY_SEED}), not on the models' own weights; the drawn tensors' "
                f"standard deviations, {ports[0].framework} vs {ports[1].framework}:\n  " + "\n  ".join(effect.notes)
            )
    return 0 if faithful else 1
