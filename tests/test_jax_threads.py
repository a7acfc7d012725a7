"""--threads reaches XLA's CPU thread pool: configure_threads before JAX starts sizes the pool (counted by its
threads' names in /proc, in a fresh process each), and asking for another size once JAX runs is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.errors import FrameworkUnavailableError, FwcompareError
from harness.core.frameworks import model_class, plugin

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")

# Run in a fresh interpreter: XLA sizes its pool once per process. Prints {thread name: count} after a jitted matmul.
_POOL_AFTER_CONFIGURE = """
import collections, json, os, sys
from harness.run.executor import configure_threads
configure_threads(int(sys.argv[1]), ["jax"])
import jax, jax.numpy as jnp
x = jnp.ones((256, 256), jnp.float32)
jax.jit(lambda a: a @ a)(x).block_until_ready()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(json.dumps(collections.Counter(names)))
"""


@pytest.fixture(scope="module", autouse=True)
def _needs_jax():
    try:
        model_class("jax")
    except FrameworkUnavailableError as error:
        pytest.skip(f"JAX is not importable here: {error}")


@pytest.mark.parametrize("threads", [1, 3])
def test_configure_threads_sizes_xlas_pool_before_jax_starts(threads):
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _POOL_AFTER_CONFIGURE, str(threads)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stdout.strip().splitlines()[-1])
    pool = {name: n for name, n in names.items() if "XLAEigen" in name}
    assert pool and sum(pool.values()) == threads, names


def test_another_pool_size_once_jax_runs_is_refused():
    import jax.numpy as jnp

    jnp.ones(1).block_until_ready()  # JAX's backends exist from here on
    from jax_impl.device import backends_started

    assert backends_started()
    with pytest.raises(FwcompareError, match="start a new process"):
        plugin("jax").configure_threads(10_000)
