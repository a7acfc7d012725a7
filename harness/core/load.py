"""How busy the machine was while something was timed: the CPU time other processes took (and steal, where a
hypervisor reports it) over the same wall interval, read from /proc/stat, plus the 1-minute load average.

With 2 threads per library, one other busy process made epochs 10–40× slower here (OpenMP/BLAS threads spin and
wait for a core), so a timing taken while others used the CPU is flagged rather than compared.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

# Other processes' share of all cores above which a timing is flagged as contended.
CONTENDED_SHARE = 0.10


@dataclass(frozen=True)
class LoadSample:
    """others_share / steal_share: fractions of all cores' time during the interval (0..1); load1_* the 1-minute
    load average at its start and end; contended: others_share or steal_share above CONTENDED_SHARE."""

    others_share: float
    steal_share: float
    load1_start: float
    load1_end: float
    contended: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _cpu_seconds() -> tuple[float, float] | None:
    """(busy, steal) CPU seconds summed over all cores since boot, or None where /proc/stat is absent."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: busy excludes idle and iowait.
    ticks = os.sysconf("SC_CLK_TCK")
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    steal = fields[7] if len(fields) > 7 else 0
    return busy / ticks, steal / ticks


def _load1() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


class LoadMeter:
    """Brackets one timed interval: `with LoadMeter() as meter: ...` then `meter.measured`."""

    sample: LoadSample | None = None

    @property
    def measured(self) -> LoadSample:
        """The sample of the finished interval (RuntimeError inside the `with` block, before there is one)."""
        if self.sample is None:
            raise RuntimeError("LoadMeter.measured is read after the `with` block ends")
        return self.sample

    def __enter__(self) -> LoadMeter:
        self._load1 = _load1()
        self._cpu = _cpu_seconds()
        times = os.times()
        self._own = times.user + times.system
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        wall = time.perf_counter() - self._wall
        times = os.times()
        own = times.user + times.system - self._own
        cpu = _cpu_seconds()
        others = steal = float("nan")
        if self._cpu is not None and cpu is not None and wall > 0:
            capacity = wall * (os.cpu_count() or 1)
            others = max(0.0, (cpu[0] - self._cpu[0]) - own) / capacity
            steal = (cpu[1] - self._cpu[1]) / capacity
        self.sample = LoadSample(
            others_share=others,
            steal_share=steal,
            load1_start=self._load1,
            load1_end=_load1(),
            contended=bool(others > CONTENDED_SHARE or steal > CONTENDED_SHARE),
        )


def machine_is_busy() -> bool:
    """True when the 1-minute load average already exceeds the number of cores (warn before timing anything)."""
    return _load1() > (os.cpu_count() or 1)
