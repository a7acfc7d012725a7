"""harness.core.load: other processes' CPU time over a timed interval is seen and flagged."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from harness.core.load import CONTENDED_SHARE, LoadMeter

BURN = "import time\nend = time.perf_counter() + 1.0\nwhile time.perf_counter() < end: pass\n"


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads CPU times from /proc/stat")
def test_busy_processes_beside_an_idle_interval_are_flagged() -> None:
    cores = os.cpu_count() or 1
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(min(cores, 4))]
    try:
        time.sleep(0.3)  # let the interpreters start and spin
        with LoadMeter() as meter:
            time.sleep(0.5)
    finally:
        for burner in burners:
            burner.wait()
    sample = meter.sample
    # Each burner spins one core for the whole interval while this process sleeps.
    assert sample.others_share >= 0.5 * len(burners) / cores
    assert sample.contended == (sample.others_share > CONTENDED_SHARE or sample.steal_share > CONTENDED_SHARE)
    if len(burners) / cores > 2 * CONTENDED_SHARE:
        assert sample.contended
