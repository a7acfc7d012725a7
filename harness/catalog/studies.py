"""The conventions study as data: which conventions are switched, on which variants, and the arms that follows.

Starting from a variant's aligned specs, each arm switches ONE convention (a `Switch`: one or a few settings of
harness.core.defaults that a library sets together) to one framework's library default; the "all" arm of a
framework puts in every default at once (its defaults mode: the naive port). An arm exists only where it changes
something: a switch that does not apply to the variant (BN settings without batch norm, another optimiser's
settings) or whose default equals the aligned value makes no arm. An arm whose specs equal an earlier arm's of the
same variant shares that arm's cells (`cells_arm`), so nothing is trained twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.catalog.variants import DEFAULT_VARIANTS, OPTIMIZER_VARIANTS, Variant, get_variant
from harness.core.conventions import FORM_CONVENTIONS, defaults_frameworks, library_defaults
from harness.core.defaults import applies, defaults_mode, setting_value, with_setting
from harness.core.errors import SpecError, UnknownNameError
from harness.core.specs import ModelSpec, TrainSpec

ALIGNED = "aligned"
ALL = "all"
OPTIMIZER_PLACEHOLDER = "{optimizer}"
ARM_SEPARATOR = "."


@dataclass(frozen=True)
class Switch:
    """One convention the study switches: its `name` in the report, the CONVENTIONS row it belongs to (None: the
    row of the variant's optimiser in FORM_CONVENTIONS), and its settings ('{optimizer}' stands for the variant's
    optimiser name)."""

    name: str
    convention: str | None
    settings: tuple[str, ...]
    description: str

    def settings_for(self, train_spec: TrainSpec) -> tuple[str, ...]:
        return tuple(s.replace(OPTIMIZER_PLACEHOLDER, train_spec.optimizer.name) for s in self.settings)

    def convention_for(self, train_spec: TrainSpec) -> str:
        if self.convention is not None:
            return self.convention
        return FORM_CONVENTIONS.get(train_spec.optimizer.name, ("", False))[0]


SWITCHES: tuple[Switch, ...] = (
    Switch("init", "dense-init", ("init",), "Dense kernel and bias initialiser"),
    Switch("bn-momentum", "bn-momentum", ("bn.momentum",), "BatchNorm running-average momentum"),
    Switch("bn-eps", "bn-eps", ("bn.eps",), "BatchNorm epsilon"),
    Switch("bn-running-variance", "bn-running-variance", ("bn.running_var",), "BatchNorm running variance (N/(N−1))"),
    Switch("optimizer-eps", "optimizer-defaults", (f"{OPTIMIZER_PLACEHOLDER}.eps",), "the optimiser's epsilon"),
    Switch("adam-betas", "optimizer-defaults", ("adam.beta1", "adam.beta2"), "Adam's β₁ and β₂"),
    Switch("rmsprop-rho", "optimizer-defaults", ("rmsprop.rho",), "RMSprop's rho (alpha)"),
    Switch(
        "adagrad-initial-accumulator",
        "optimizer-defaults",
        ("adagrad.initial_accumulator",),
        "AdaGrad's initial accumulator",
    ),
    Switch("update-rule", None, (f"{OPTIMIZER_PLACEHOLDER}.form",), "the update rule's form (eps placement, ...)"),
)

NOT_SWITCHED = (
    "l2-penalty: weight decay against an L2 term in the loss applies only to a variant with L2, and no variant of "
    "the default or optimizers matrix has one",
    "the framework's own dropout RNG and shuffling: every arm draws its batch orders and dropout masks from the "
    "seed (harness.core.batching), as every cell of a matrix does; a library's own streams would change them as a "
    "different seed does, which the seed-to-seed spread of each arm already measures",
)
"""Defaults the study does not switch, and why (the report prints them)."""


@dataclass(frozen=True)
class Arm:
    """One arm of a variant: `name` is 'aligned', '<switch>=<framework>' or 'all=<framework>'; `changed` lists
    'setting: aligned value → default'; its cells are those of arm `cells_arm` of the same variant."""

    variant: str
    name: str
    switch: str | None
    framework: str | None
    convention: str | None
    model: ModelSpec
    train: TrainSpec
    changed: tuple[str, ...]
    cells_arm: str

    @property
    def cells_variant(self) -> str:
        """The variant name its cells are recorded under: '<variant>.<cells_arm>' with '=' written '_' (a cell key
        allows letters, digits, '.', '_' and '-'; variant names have no '.')."""
        return f"{self.variant}{ARM_SEPARATOR}{self.cells_arm.replace('=', '_')}"


def base_variant(cells_variant: str) -> str:
    """The study variant of an arm's cells variant name (Arm.cells_variant)."""
    return cells_variant.partition(ARM_SEPARATOR)[0]


@dataclass(frozen=True)
class ConventionsStudy:
    """Variants × arms × seeds, trained for `epochs` on `dataset`, parameters compared at `snapshot_steps`."""

    name: str
    description: str
    variants: tuple[Variant, ...]
    switches: tuple[Switch, ...] = SWITCHES
    seeds: int = 10
    epochs: int = 3
    dataset: str = "mnist"
    snapshot_steps: tuple[int, ...] = (0, 1, 10, 100, 1000)
    """Optimiser steps after which each arm's parameters are compared with the aligned run's (0: the initial ones;
    3 MNIST epochs at batch 128 are 1,407 steps)."""

    def narrowed(
        self, *, variants: list[str] | None, seeds: int | None, epochs: int | None, dataset: str | None
    ) -> ConventionsStudy:
        """The study with the command line's choices; an unknown variant is an UnknownNameError."""
        chosen = self.variants
        if variants is not None:
            chosen = tuple(get_variant(name) for name in variants)
        if seeds is not None and seeds < 2:
            raise SpecError(f"--seeds {seeds}: a paired difference needs at least 2 seeds (the study uses 10)")
        return ConventionsStudy(
            self.name,
            self.description,
            chosen,
            self.switches,
            seeds or self.seeds,
            epochs or self.epochs,
            dataset or self.dataset,
            self.snapshot_steps,
        )


def distinct_variants(variants: tuple[Variant, ...]) -> tuple[Variant, ...]:
    """`variants` without those whose specs equal an earlier one's (relu-he-adam is relu-he)."""
    kept: list[Variant] = []
    for variant in variants:
        if all((variant.model, variant.train) != (other.model, other.train) for other in kept):
            kept.append(variant)
    return tuple(kept)


def most_switches_first(study: ConventionsStudy) -> tuple[Variant, ...]:
    """The study's variants ordered by how many arms they have, most first (stable): the order they train in, so
    that a study stopped early holds the variants with the most conventions to measure."""
    return tuple(sorted(study.variants, key=lambda variant: -len(study_arms(study, variant))))


def study_arms(study: ConventionsStudy, variant: Variant, frameworks: tuple[str, ...] | None = None) -> list[Arm]:
    """The aligned arm, then every switch × framework that changes the variant, then each framework's 'all' arm
    (frameworks: those whose plug-ins list their library's defaults, harness.core.conventions.defaults_frameworks)."""
    frameworks = defaults_frameworks() if frameworks is None else frameworks
    model, train = variant.model, variant.train
    arms = [Arm(variant.name, ALIGNED, None, None, None, model, train, (), ALIGNED)]
    for switch in study.switches:
        settings = [name for name in switch.settings_for(train) if applies(name, model, train)]
        for framework in frameworks:
            defaults = library_defaults(framework)
            arm_model, arm_train, changed = model, train, []
            for name in settings:
                if name not in defaults or defaults[name].value == setting_value(name, model, train):
                    continue
                changed.append(f"{name}: {_shown(setting_value(name, model, train))} → {_shown(defaults[name].value)}")
                arm_model, arm_train = with_setting(name, defaults[name].value, arm_model, arm_train)
            if changed:
                arms.append(
                    _arm(
                        arms,
                        variant.name,
                        switch.name,
                        framework,
                        switch.convention_for(train),
                        arm_model,
                        arm_train,
                        changed,
                    )
                )
    for framework in frameworks:
        arm_model, arm_train = defaults_mode(library_defaults(framework), model, train)
        changed = [c for arm in arms if arm.framework == framework for c in arm.changed]
        if (arm_model, arm_train) != (model, train):
            arms.append(_arm(arms, variant.name, ALL, framework, None, arm_model, arm_train, changed))
    return arms


def _arm(
    earlier: list[Arm],
    variant: str,
    switch: str,
    framework: str,
    convention: str | None,
    model: ModelSpec,
    train: TrainSpec,
    changed: list[str],
) -> Arm:
    name = f"{switch}={framework}"
    same = next((arm.cells_arm for arm in earlier if (arm.model, arm.train) == (model, train)), name)
    return Arm(variant, name, switch, framework, convention, model, train, tuple(changed), same)


def _shown(value: object) -> str:
    """A setting's value in an arm's description: an InitSpec by scheme (and bias), a number as written."""
    scheme = getattr(value, "scheme", None)
    if scheme is None:
        return str(value)
    return f"{scheme}/{getattr(value, 'bias', '')} bias"


STUDIES: dict[str, ConventionsStudy] = {
    "conventions": ConventionsStudy(
        "conventions",
        "every convention of the default and optimizers matrices switched to each library's default, one at a time "
        "and all at once, on MNIST (3 epochs, batch 128, float32)",
        distinct_variants((*DEFAULT_VARIANTS, *OPTIMIZER_VARIANTS)),
    ),
}


def get_study(name: str) -> ConventionsStudy:
    if name not in STUDIES:
        raise UnknownNameError(f"unknown study {name!r}; choose one of: {', '.join(STUDIES)}")
    return STUDIES[name]
