"""A pytest plugin for a user's own test suite: assert in one line that their network agrees with the reference.

Registered through the `pytest11` entry point (pyproject.toml), so installing fwcompare makes the fixture
`fwcompare_parity` available to every test:

    def test_my_network_matches_the_reference(fwcompare_parity):
        fwcompare_parity("my_package/adapter.py:MyAdapter", variants=["relu-he-sgd", "relu-he-adam"])

`assert_parity` can also be imported and called directly. A failure's message is the per-tensor table of what
disagrees, each row with its diagnosis (harness/parity/diagnosis.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.byo.adapter import DEFAULT_TIME_LIMIT_S, adapter_model
from harness.byo.load import register_impl
from harness.byo.plugin import register_user_model
from harness.parity.results import NOT_OK, ParityReport
from harness.parity.suite import run_parity

DEFAULT_VARIANTS = ("relu-he-sgd", "relu-he-adam")


def assert_parity(
    impl: str | type,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    frameworks: Sequence[str] = ("numpy",),
    dtypes: Sequence[str] = ("float64",),
    steps: int = 2,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> ParityReport:
    """Compare `impl` (an adapter class, or 'file.py:Class' / 'module:Class') with `frameworks` on `variants`;
    raise AssertionError listing every tensor that is NOT OK with its diagnosis (or the variants it skipped all of);
    return the report when everything agrees."""
    if isinstance(impl, str):
        name = register_impl(impl, time_limit_s)
    else:
        name = register_user_model(adapter_model(impl, impl.__qualname__, time_limit_s))
    report = run_parity(variants, [*frameworks, name], dtypes, steps)
    compared = any(name in row.pair for row in report.rows)
    if report.failed or not compared:
        lines = [
            f"{row.pair} {row.variant} {row.dtype} {row.check} {row.tensor}: max abs diff {row.max_abs_diff:.1e} "
            f"(tol rtol {row.rtol:.0e} atol {row.atol:.0e}) | {row.note}"
            for row in report.rows
            if row.status == NOT_OK
        ]
        lines += report.skipped
        raise AssertionError(f"{name} does not match (fwcompare parity):\n" + "\n".join(lines))
    return report


@pytest.fixture
def fwcompare_parity():
    """`assert_parity`, for a user's tests."""
    return assert_parity
