"""Argument types shared by the fwcompare subcommands; each rejects bad text with a message argparse prints."""

from __future__ import annotations

import argparse

from harness.core.names import BadNameError, check_name
from harness.parity.inputs import check_steps
from harness.run.estimate import MAX_EPOCHS


def comma_names(text: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c']; at least one name, each in harness.core.names' character set."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one name, separated by commas")
    try:
        return [check_name("name", name) for name in names]
    except BadNameError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def positive_int(text: str) -> int:
    """A whole number ≥ 1."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_seconds(text: str) -> float:
    """A number of seconds > 0."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from error
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def epoch_count(text: str) -> int:
    """A whole number of epochs, 1 to harness.run.estimate.MAX_EPOCHS."""
    value = positive_int(text)
    if value > MAX_EPOCHS:
        raise argparse.ArgumentTypeError(
            f"{value:,} epochs is more than the {MAX_EPOCHS:,} allowed; give a realistic length"
        )
    return value


def accuracy_fraction(text: str) -> float:
    """An accuracy as a fraction in (0, 1]."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from error
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not an accuracy fraction in (0, 1]; write 0.97, not 97")
    return value


def step_count(text: str) -> int:
    """A number of optimiser steps parity accepts (check_steps), for `parity` and `port`."""
    steps = positive_int(text)
    try:
        check_steps(steps)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    return steps
