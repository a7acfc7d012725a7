"""A user's own test, as it would sit in their repository: the network agrees with the reference in one line.

Run it with `pytest examples/byo/test_scratch_parity.py` once fwcompare is installed (its pytest plugin provides
the `fwcompare_parity` fixture; in a checkout without the install, add `-p harness.parity.pytest_plugin`)."""

from pathlib import Path

ADAPTER = Path(__file__).with_name("adapter.py")


def test_scratch_mlp_matches_the_reference(fwcompare_parity):
    fwcompare_parity(f"{ADAPTER}:ScratchAdapter", variants=["relu-he-sgd", "relu-he-adam", "relu-he-batchnorm"])
