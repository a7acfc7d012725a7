"""The framework registry: every framework is a plug-in found through the entry point group `fwcompare.frameworks`.

Adding a framework (the three built-ins register exactly this way):

1. Write a package beside `reference/` with `model.py` holding `class MLP(harness.core.interface.FrameworkModel)`
   whose `framework` class attribute is the registry name, importing only `harness.core` and its own library.
2. Write `<package>/plugin.py` with a subclass of `FrameworkPlugin` below and one instance of it, `PLUGIN`.
   Importing plugin.py must not import the library: every hook that needs it imports it inside the hook.
3. Register it in the distribution's metadata (pyproject.toml), then reinstall (`pip install -e .`):

       [project.entry-points."fwcompare.frameworks"]
       myfw = "myfw_impl.plugin:PLUGIN"

The plug-in says, as data: its `name`, its `label` in tables, its `order` among the frameworks (pairs, columns and
default lists follow it), where its MLP lives (`model`, imported only when a model is built), the top-level
`modules` it needs (looked up with importlib.util.find_spec, never imported, for `fwcompare list`), the pip
`requirement` that installs them, the `distributions` whose versions go into environment.json, the rule forms it
runs natively (`optimizer_forms`: optimiser name -> form of harness.core.specs.OPTIMIZER_FORMS; `running_var`: its
BatchNorm running-variance convention; checked when it loads; `other_forms`: any others its MLP also runs), whether
it is the one reference that runs every form (`runs_every_form`), its thread environment variables, its column of
the conventions table (`conventions`: convention name -> what the library does), its library's defaults with their
sources (`library_defaults`, `form_sources`: the defaults mode of the conventions study), whether it is
`in_defaults` (False for a framework of an optional extra, which runs only when named), and, for a framework that
records of schema 1 named forms after, its `schema1_form_name` (a new framework leaves it None).
Its hooks: `import_library` (e.g. with start-up log filtering), `configure_threads`, `deterministic` (a context for
parity), `model_device` (checks a --device choice and returns what its MLP gets), `gpu_model` and `matmul` (the
library's GEMM, whose peak rate, measured under the name `gemm_library`, gives the machine limit, harness.run.gemm).
Optionally it names a `reader` of users' model objects for `fwcompare port`.

A source checkout also registers what its own pyproject.toml declares, so built-ins and a framework added in the
checkout are found before the editable install's metadata is rebuilt; a name registered twice with different
targets is an error that names both. A user's own network (harness.byo) is added for one process with
`register_plugin`; its plug-in's `model` is the class itself.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import importlib.util
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from harness.core.defaults import LibraryDefault
from harness.core.errors import FrameworkUnavailableError, FwcompareError, UnknownNameError
from harness.core.interface import FrameworkModel
from harness.core.specs import OPTIMIZER_FORMS, RUNNING_VAR_CONVENTIONS

ENTRY_POINT_GROUP = "fwcompare.frameworks"
DEVICE_CHOICES = ("auto", "cpu", "cuda")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class FrameworkPlugin:
    """What fwcompare needs to know about one framework (module docstring); subclass it and set the class
    attributes, override the hooks the framework needs."""

    name: ClassVar[str]
    label: ClassVar[str]
    order: ClassVar[int] = 100
    model: ClassVar[str | type[FrameworkModel]]
    """'package.module:MLP', imported by model_class only; or the class itself for a plug-in registered in this
    process (register_plugin)."""
    modules: ClassVar[tuple[str, ...]]
    requirement: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]] = ()
    runs_every_form: ClassVar[bool] = False
    """True for the one reference (the NumPy one): it runs whichever form a spec names, and parity explains the
    other pairs' differences with it."""
    optimizer_forms: ClassVar[Mapping[str, str]] = {}
    """Every optimiser of harness.core.specs.OPTIMIZER_FORMS -> the form it runs (unless runs_every_form)."""
    running_var: ClassVar[str | None] = None
    """Its BatchNorm running-variance convention, one of harness.core.specs.RUNNING_VAR_CONVENTIONS."""
    other_forms: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Forms its MLP also runs besides those (optimiser name -> forms, 'running_var' -> conventions); native_specs
    still picks optimizer_forms and running_var."""
    thread_env_vars: ClassVar[tuple[str, ...]] = ()
    """Environment variables the library reads for its thread counts when it loads."""
    conventions: ClassVar[Mapping[str, str]] = {}
    library_defaults: ClassVar[Mapping[str, LibraryDefault]] = {}
    """What its library gives where a user writes nothing (harness.core.defaults: setting -> value and source), besides
    the rule forms above; empty for a framework whose defaults are not listed (it has no defaults mode)."""
    form_sources: ClassVar[Mapping[str, str]] = {}
    """Optimiser name -> where its library's update rule is stated, and 'batch_norm' -> where its running variance
    is: the sources of optimizer_forms and running_var in the defaults table."""
    reader: ClassVar[str | None] = None
    """'package.module' that reads users' model and optimiser objects of the library into harness.core.ports
    (read_model, read_optimizer, inference_logits, default_settings, default_optimizer; `fwcompare port`), imported
    only when one is read; None when the framework has no reader."""
    gemm_library: ClassVar[str | None] = None
    """The library whose GEMM its CPU training runs on, as environment.json's gemm_peak names it ('tensorflow' for
    Keras); None when `matmul` is not given and its peak rate is not measured."""
    user_code: ClassVar[bool] = False
    """True for a user's own network registered in this process (harness.byo): parity also probes it with large
    logits."""
    in_defaults: ClassVar[bool] = True
    """False for a framework of an optional extra: matrices and parity run it only when it is named."""
    gpu_capable: ClassVar[bool] = False
    """True when its MLP can train on a GPU (its model_device then hands it one): a cluster gives such a cell a
    GPU with --device cuda or auto."""
    cells_per_worker: ClassVar[int | None] = None
    """How many cells one worker process trains before a fresh process takes over (None: as many as it is given):
    for a library whose process keeps memory from every model it built, so a long matrix does not creep upwards."""
    schema1_form_name: ClassVar[str | None] = None
    """The name records and matrix files of schema 1 gave the optimiser forms this framework runs natively (forms
    were then named after a framework); None for a framework without one. Still read on input and used in cell
    digests (harness.core.specs.schema1_form_names), so it never changes once given."""

    def problems(self) -> list[str]:
        """What is missing or invalid in this plug-in's declarations (empty when it keeps the contract)."""
        if self.runs_every_form:
            return []
        wrong = [
            f"optimizer_forms[{optimizer!r}]={self.optimizer_forms.get(optimizer)!r} (one of {', '.join(forms)})"
            for optimizer, forms in OPTIMIZER_FORMS.items()
            if self.optimizer_forms.get(optimizer) not in forms
        ]
        if self.running_var not in RUNNING_VAR_CONVENTIONS:
            wrong.append(f"running_var={self.running_var!r} (one of {', '.join(RUNNING_VAR_CONVENTIONS)})")
        return wrong

    def import_library(self) -> None:
        """Import the library (raises ImportError like the import itself)."""
        for module in self.modules:
            importlib.import_module(module)

    def configure_threads(self, threads: int) -> None:
        """Limit the library to `threads` threads for the rest of the process (before its first model)."""

    def deterministic(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block: deterministic kernels, full-precision float32 and one thread of the library's own (a
        fixed reduction order), restored afterwards where the library allows."""
        return contextlib.nullcontext()

    def model_device(self, requested: str) -> str:
        """The device argument its MLP gets for --device `requested`; raises a FwcompareError (one line, with the
        fix) when the device is not there. The default: a CPU-only framework runs on the CPU whatever is asked."""
        check_device_choice(requested)
        return "cpu"

    def matmul(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        """A call that computes a (m, k) · b (k, n) on the CPU with the library and returns when the product is
        finished (raises ImportError like the import); needed where gemm_library is set."""
        raise NotImplementedError(f"framework {self.name!r} names no GEMM (gemm_library is None)")

    def gpu_model(self) -> str | None:
        """Names of the GPUs the library sees ('' for none) when it is already imported; None when it cannot
        tell without importing it."""
        return None


def check_device_choice(requested: str) -> None:
    if requested not in DEVICE_CHOICES:
        raise FwcompareError(f"unknown device {requested!r}; choose one of: {', '.join(DEVICE_CHOICES)}")


@functools.cache
def plugins() -> dict[str, FrameworkPlugin]:
    """{name: plugin} of every registered framework, in plugin order (then name)."""
    targets: dict[str, tuple[str, str]] = {}  # name -> (target, where it was registered)
    for name, target in _checkout_entry_points().items():
        targets[name] = (target, "pyproject.toml of this checkout")
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"distribution {entry_point.dist.name if entry_point.dist else '?'}"
        known = targets.get(entry_point.name)
        if known is not None and known[0] != entry_point.value:
            if known[1].startswith("pyproject") and entry_point.dist and entry_point.dist.name == "fwcompare":
                continue  # the installed metadata of this checkout is older than its pyproject.toml
            raise FwcompareError(
                f"framework {entry_point.name!r} is registered twice, as {known[0]} ({known[1]}) and as "
                f"{entry_point.value} ({where}); uninstall one of them"
            )
        targets.setdefault(entry_point.name, (entry_point.value, where))
    loaded = {}
    for name, (target, where) in targets.items():
        try:
            plugin = importlib.metadata.EntryPoint(name, target, ENTRY_POINT_GROUP).load()
        except (ImportError, AttributeError) as error:
            raise FwcompareError(
                f"entry point {name} = {target!r} ({where}) cannot be loaded ({type(error).__name__}: {error}); "
                "install the package it names, or remove that registration"
            ) from error
        if not isinstance(plugin, FrameworkPlugin) or plugin.name != name:
            raise FwcompareError(
                f"entry point {name} = {target!r} ({where}) is not a FrameworkPlugin named {name!r}; "
                "see harness.core.frameworks"
            )
        if plugin.problems():
            raise FwcompareError(
                f"framework {name!r} ({target}, {where}) does not declare its native forms: "
                f"{'; '.join(plugin.problems())}; see harness.core.frameworks"
            )
        loaded[name] = plugin
    schema1_names = [plugin.schema1_form_name for plugin in loaded.values() if plugin.schema1_form_name]
    if len(set(schema1_names)) != len(schema1_names):
        raise FwcompareError(
            f"schema-1 form names {schema1_names} are declared more than once; a framework added since has none "
            "(leave its schema1_form_name None); see harness.core.frameworks"
        )
    references = [name for name, plugin in loaded.items() if plugin.runs_every_form]
    if len(references) != 1:
        raise FwcompareError(
            f"exactly one registered framework must run every form (the reference), found {references or 'none'}; "
            "see harness.core.frameworks"
        )
    return dict(sorted(loaded.items(), key=lambda item: (item[1].order, item[0])))


def register_plugin(registered: FrameworkPlugin) -> None:
    """Add `registered` to plugins() for the rest of this process (a user's own network, harness.byo), in plugin
    order; a name already registered, or a plug-in that does not declare its native forms, is refused."""
    known = plugins()
    if registered.name in known:
        raise FwcompareError(f"framework name {registered.name!r} is taken; give your implementation another name")
    if registered.schema1_form_name is not None:
        raise FwcompareError(
            f"framework {registered.name!r} declares schema1_form_name={registered.schema1_form_name!r}; only a "
            "framework that records of schema 1 named has one: leave it None"
        )
    if registered.runs_every_form or registered.problems():
        raise FwcompareError(
            f"framework {registered.name!r} does not declare the native forms it runs: "
            f"{'; '.join(registered.problems()) or 'only the reference runs every form'}; see harness.core.frameworks"
        )
    ordered = sorted([*known.items(), (registered.name, registered)], key=lambda item: (item[1].order, item[0]))
    known.clear()
    known.update(ordered)


def _checkout_entry_points() -> dict[str, str]:
    """The group's table in the pyproject.toml of the checkout this harness runs from (empty for an installed
    wheel, which has no pyproject.toml beside its packages)."""
    path = PROJECT_ROOT / "pyproject.toml"
    if not path.is_file():
        return {}
    project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    if project.get("name") != "fwcompare":
        return {}
    return dict(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))


def schema1_form_names() -> dict[str, dict[str, str]]:
    """{schema-1 form name: {optimiser: the form the framework that declares it runs}}, in plugin order; what
    harness.core.specs reads the earlier form names with (harness.core supplies it there)."""
    return {
        registered.schema1_form_name: dict(registered.optimizer_forms)
        for registered in plugins().values()
        if registered.schema1_form_name is not None
    }


def framework_names() -> tuple[str, ...]:
    """Every registered framework name, in plugin order."""
    return tuple(plugins())


def default_framework_names() -> tuple[str, ...]:
    """The frameworks a matrix and parity use when none are named: every registered one that is in_defaults."""
    return tuple(name for name, registered in plugins().items() if registered.in_defaults)


def portable() -> tuple[str, ...]:
    """The registered frameworks whose plug-ins name a reader of users' models (`fwcompare port`)."""
    return tuple(name for name, registered in plugins().items() if registered.reader)


def cells_per_worker(frameworks: Iterable[str]) -> int | None:
    """The fewest cells any of `frameworks` lets one worker process train (FrameworkPlugin.cells_per_worker); None
    when none of them bounds it."""
    names = set(frameworks)
    limits = [entry.cells_per_worker for name, entry in plugins().items() if name in names]
    return min((limit for limit in limits if limit is not None), default=None)


def plugin(name: str) -> FrameworkPlugin:
    """The plugin registered as `name`; UnknownNameError listing the registered ones otherwise."""
    registered = plugins()
    if name not in registered:
        raise UnknownNameError(f"unknown framework {name!r}; available: {', '.join(registered)}")
    return registered[name]


def check_names(names: Iterable[str]) -> None:
    """UnknownNameError naming every unregistered name among `names` and the registered ones."""
    unknown = [name for name in names if name not in plugins()]
    if unknown:
        raise UnknownNameError(f"unknown framework(s) {', '.join(unknown)}; available: {', '.join(plugins())}")


def reference_name() -> str:
    """The registered framework that runs every rule form (the NumPy reference): parity explains with it and
    estimates time with it."""
    return next(name for name, registered in plugins().items() if registered.runs_every_form)


def model_class(name: str) -> type[FrameworkModel]:
    """The MLP class of framework `name`; raises FrameworkUnavailableError if its library cannot be imported."""
    registered = plugin(name)
    if not isinstance(registered.model, str):
        return registered.model
    module_name, _, attribute = registered.model.partition(":")
    try:
        registered.import_library()
        module = importlib.import_module(module_name)
    except ImportError as error:
        if (error.name or "").split(".")[0] not in registered.modules:
            raise  # a bug inside fwcompare, not a missing framework: show it as it is
        raise FrameworkUnavailableError(
            f"framework {name!r} is unavailable here ({error}); install it with `pip install "
            f"{registered.requirement}` or leave it out with --frameworks"
        ) from error
    return getattr(module, attribute or "MLP")


def available_frameworks() -> dict[str, str | None]:
    """{name: None if its libraries are installed, else the reason it is not available}.

    Looks the libraries up (importlib.util.find_spec) without importing them: importing TensorFlow alone takes
    seconds, which `fwcompare list` should not cost. A library that is installed but broken shows up when a run
    imports it, as that framework's cells being unavailable.
    """
    status: dict[str, str | None] = {}
    for name, registered in plugins().items():
        missing = [module for module in registered.modules if importlib.util.find_spec(module) is None]
        status[name] = (
            f"framework {name!r} is unavailable here (no module named {', '.join(map(repr, missing))}); install it "
            f"with `pip install {registered.requirement}` or leave it out with --frameworks"
            if missing
            else None
        )
    return status


def installed(frameworks: Iterable[str]) -> list[FrameworkPlugin]:
    """The plugins of `frameworks` whose libraries are installed (a missing one is left to its cells)."""
    status = available_frameworks()
    return [plugin(name) for name in frameworks if status[name] is None]


def check_device(device: str, frameworks: Iterable[str]) -> None:
    """Raise the framework's one-line error when `device` is 'cuda' and an installed framework among `frameworks`
    sees no GPU. Imports a framework only for 'cuda'."""
    check_device_choice(device)
    if device != "cuda":
        return
    for registered in installed(frameworks):
        registered.import_library()
        registered.model_device(device)


def configure_threads(threads: int, frameworks: Iterable[str]) -> None:
    """Each installed framework among `frameworks` limited to `threads` threads (process-wide)."""
    for registered in installed(frameworks):
        registered.configure_threads(threads)


def thread_env_vars(frameworks: Iterable[str]) -> tuple[str, ...]:
    """The thread environment variables of `frameworks`' libraries."""
    return tuple(var for name in frameworks if name in plugins() for var in plugin(name).thread_env_vars)


@contextlib.contextmanager
def deterministic(frameworks: Iterable[str]) -> Iterator[None]:
    """Every installed framework among `frameworks` in its deterministic mode inside the block."""
    with contextlib.ExitStack() as stack:
        for registered in installed(frameworks):
            stack.enter_context(registered.deterministic())
        yield


def library_distributions() -> tuple[str, ...]:
    """The distributions every registered framework names for environment.json, in plugin order."""
    return tuple(dict.fromkeys(d for registered in plugins().values() for d in registered.distributions))


def gpu_model() -> str | None:
    """The GPUs the first framework that can tell sees ('' for none), else None."""
    for registered in plugins().values():
        names = registered.gpu_model()
        if names is not None:
            return names
    return None
