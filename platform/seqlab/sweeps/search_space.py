"""Search spaces of sweep files: domains over dotted config keys, some of them conditional.

A key can say that it only applies under choices of other keys (``when``). An inactive key is not applied
to the trial's config (the base config's value stays) and shows as ``None`` in the trial's parameters::

    space:
      model.embedding: {choice: [learned, glove]}
      model.embed_dim: {choice: [8, 32, 128], when: {model.embedding: learned}}  # GloVe fixes the width
      model.freeze_embedding: {choice: [false, true], when: {model.embedding: glove}}
      data.step: {choice: [1, 2], when: {model.name: [gru, lstm]}}  # a list: any of these values

A ``when`` names keys of the same space that are ``choice`` or ``grid`` and unconditional themselves; several
keys must all match. Each searcher honours the conditions: random draws a conditional key only when it is
active (every trial drawn here, seeded: :func:`random_points`), grid expands the distinct active combinations itself (no duplicate trials
for an inactive key), Optuna gets a define-by-run space that asks only for active keys.

:func:`check_space` validates every key alone (unknown keys, out-of-range values) and then every combination
of discrete values and numeric bounds, so that no trial a searcher can draw is an invalid config.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

from seqlab.config import apply_overrides
from seqlab.errors import ConfigError
from seqlab.tasks import validate_config

DOMAIN_KINDS = ("choice", "grid", "uniform", "loguniform", "randint")
WHEN = "when"
MAX_CHECKED_COMBINATIONS = 2_000  # beyond this, check_space checks every pair of keys under each condition

Space = dict[str, dict[str, Any]]


def domain_of(spec: dict[str, Any]) -> tuple[str, list[Any]]:
    """``{choice: [a, b], when: {...}} -> ("choice", [a, b])``."""
    kind = next(k for k in spec if k != WHEN)
    return kind, list(spec[kind])


def conditions_of(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """The key's ``when`` as ``{parent key: allowed values}`` (a single value becomes a one-item list)."""
    when = spec.get(WHEN) or {}
    return {k: list(v) if isinstance(v, list) else [v] for k, v in when.items()}


def is_active(key: str, config: dict[str, Any], space: Space) -> bool:
    """Whether ``key`` applies to a trial whose sampled values are ``config``."""
    return all(config.get(parent) in allowed for parent, allowed in conditions_of(space[key]).items())


def active_overrides(sample: dict[str, Any], space: Space) -> dict[str, Any]:
    """The overrides a trial applies: the space's keys that are active in ``sample``, with their values."""
    return {k: v for k, v in sample.items() if k in space and is_active(k, sample, space)}


def space_problems(space: Space, searcher: str) -> list[str]:
    """Shape errors of a space (no config schema needed), each naming ``space.<key>``."""
    problems: list[str] = []
    if not space:
        return ["space is empty; give at least one dotted key, e.g. train.lr: {loguniform: [1e-4, 1e-2]}"]
    for key, spec in space.items():
        kinds = [k for k in spec if k != WHEN] if isinstance(spec, dict) else []
        if len(kinds) != 1 or kinds[0] not in DOMAIN_KINDS:
            shown = dict(spec) if isinstance(spec, dict) else spec
            problems.append(f"space.{key}: give exactly one of {', '.join(DOMAIN_KINDS)} (and optionally {WHEN}), "
                            f"got {shown}")
            continue
        kind, values = kinds[0], spec[kinds[0]]
        if not isinstance(values, list) or not values:
            problems.append(f"space.{key}.{kind}: needs a non-empty list of values, got {values!r}")
        elif kind in ("uniform", "loguniform", "randint"):
            if len(values) != 2 or not all(isinstance(v, (int, float)) for v in values) or values[0] >= values[1]:
                problems.append(f"space.{key}.{kind}: needs [low, high] numbers with low < high, got {values}")
            elif kind == "loguniform" and values[0] <= 0:
                problems.append(f"space.{key}.loguniform: bounds must be > 0, got {values}")
        if WHEN in spec:
            problems += _when_problems(key, spec, space, searcher)
    grid_keys = [k for k, s in space.items() if isinstance(s, dict) and "grid" in s]
    if searcher == "optuna" and grid_keys:
        problems.append(f"searcher 'optuna' cannot take grid domains ({grid_keys}); use choice")
    if searcher == "grid" and any(isinstance(s, dict) and not {"grid", "choice"} & set(s) for s in space.values()):
        problems.append("searcher 'grid' needs grid (or choice) domains only")
    return problems


def _when_problems(key: str, spec: dict[str, Any], space: Space, searcher: str) -> list[str]:
    when = spec[WHEN]
    if not isinstance(when, dict) or not when:
        return [(f"space.{key}.{WHEN}: needs a mapping of other swept keys to values, e.g. "
                 f"{{model.embedding: learned}}, got {when!r}")]
    problems = []
    if "grid" in spec and searcher != "grid":
        problems.append(f"space.{key}: a conditional key cannot be a grid under searcher {searcher!r}; use choice")
    for parent, allowed in conditions_of(spec).items():
        pspec = space.get(parent)
        if parent == key or not isinstance(pspec, dict):
            problems.append(f"space.{key}.{WHEN}.{parent}: not another key of this space; swept keys: "
                            f"{', '.join(k for k in space if k != key)}")
        elif WHEN in pspec or not {"choice", "grid"} & set(pspec):
            problems.append(f"space.{key}.{WHEN}.{parent}: a condition must name an unconditional choice or "
                            f"grid key, got {pspec}")
        else:
            _, values = domain_of(pspec)
            never = [v for v in allowed if v not in values]
            if never:
                problems.append(f"space.{key}.{WHEN}.{parent}: {never} is not among {parent}'s values {values}; "
                                "the condition could never hold")
    return problems


# ----------------------------------------------------------------------------------- combinations


def _probe_values(spec: dict[str, Any]) -> list[Any]:
    """Every discrete value, or the bounds of a numeric range (randint's high is inclusive)."""
    kind, values = domain_of(spec)
    return values if kind in ("choice", "grid") else [values[0], values[1]]


def assignments(space: Space, values: Callable[[dict[str, Any]], list[Any]] = _probe_values) -> Iterator[dict[str, Any]]:
    """Every distinct assignment of the active keys: unconditional keys crossed, then the keys they enable.

    Inactive keys are absent. ``values(spec)`` lists the values to take for one key.
    """
    free = [k for k in space if WHEN not in space[k]]
    dependent = [k for k in space if WHEN in space[k]]
    for combo in itertools.product(*(values(space[k]) for k in free)):
        base = dict(zip(free, combo))
        active = [k for k in dependent if is_active(k, base, space)]
        for extra in itertools.product(*(values(space[k]) for k in active)):
            yield {**base, **dict(zip(active, extra))}


def count_assignments(space: Space) -> int:
    """How many assignments :func:`assignments` yields, without listing them."""
    parents = sorted({p for spec in space.values() for p in conditions_of(spec)})
    others = [k for k in space if WHEN not in space[k] and k not in parents]
    dependent = [k for k in space if WHEN in space[k]]
    total = 0
    for combo in itertools.product(*(_probe_values(space[k]) for k in parents)):
        base = dict(zip(parents, combo))
        total += math.prod(len(_probe_values(space[k])) for k in dependent if is_active(k, base, space))
    return total * math.prod(len(_probe_values(space[k])) for k in others)


def _pairwise(space: Space) -> Iterator[dict[str, Any]]:
    """For each combination of the condition keys: every value pair of every two other active keys.

    Covers each rule that involves at most two keys beyond the ones conditions name (the config's
    cross-field rules pair two keys: GloVe and width, delay and step, the two split fractions).
    """
    parents = sorted({p for spec in space.values() for p in conditions_of(spec)})
    for combo in itertools.product(*(_probe_values(space[k]) for k in parents)):
        context = dict(zip(parents, combo))
        keys = [k for k in space if k not in context and is_active(k, context, space)]
        yield context
        for a, b in itertools.combinations(keys, 2):
            for va, vb in itertools.product(_probe_values(space[a]), _probe_values(space[b])):
                yield {**context, a: va, b: vb}


def grid_points(space: Space, repeats: int = 1) -> list[dict[str, Any]]:
    """The grid searcher's trials: each distinct active combination (inactive keys ``None``), ``repeats`` times."""
    points = [{k: a.get(k) for k in space} for a in assignments(space, lambda s: domain_of(s)[1])]
    return points * repeats


def check_space(space: Space, base_tree: dict[str, Any], origin: str) -> None:
    """Refuse a space that could give an invalid trial, before any Ray resource is asked for.

    First each key alone (its conditions met), so an unknown key or an out-of-range value is named as
    ``space.<key>``; then every combination of discrete values and numeric bounds (up to
    :data:`MAX_CHECKED_COMBINATIONS`; in a larger space every value pair of every two keys under each
    combination of the condition keys), so cross-field rules (GloVe needs 50-d) cannot fail a trial later.

    Raises:
        ConfigError: naming the key, or the combination and the rule it breaks.
    """
    problems: list[str] = []
    for key, spec in space.items():
        parents = {p: allowed[0] for p, allowed in conditions_of(spec).items()}
        for value in _probe_values(spec):
            try:
                validate_config(apply_overrides(base_tree, {**parents, key: value}), origin)
            except ConfigError as exc:
                own = [line for line in str(exc).splitlines() if line.strip().startswith(f"{key}:")]
                problems.extend(f"space.{line.strip()}" for line in own)
    if problems:
        raise ConfigError(f"invalid search space ({origin}):\n  " + "\n  ".join(dict.fromkeys(problems)))
    total = count_assignments(space)
    combos = assignments(space) if total <= MAX_CHECKED_COMBINATIONS else _pairwise(space)
    invalid = []
    for combo in combos:
        try:
            validate_config(apply_overrides(base_tree, combo), origin)
        except ConfigError as exc:
            reason = "; ".join(line.strip() for line in str(exc).splitlines()[1:]) or str(exc)
            invalid.append(f"{combo}: {reason}")
    if invalid and len(invalid) == total and total <= MAX_CHECKED_COMBINATIONS:
        raise ConfigError(f"invalid search space ({origin}): none of its {total} combinations is a valid config, "
                          f"e.g. {invalid[0]}")
    if invalid:
        shown = "\n  ".join(invalid[:3])
        raise ConfigError(
            f"invalid search space ({origin}): {len(invalid)} combinations are invalid configs, e.g.\n  "
            f"{shown}\nmake the offending key conditional, e.g. "
            f"model.embed_dim: {{choice: [8, 32], {WHEN}: {{model.embedding: learned}}}}"
        )


# ------------------------------------------------------------------------------------- Tune searchers


def _draw(kind: str, values: list[Any], rng: Any) -> Any:
    if kind in ("choice", "grid"):
        return values[int(rng.integers(len(values)))]
    if kind == "uniform":
        return float(rng.uniform(values[0], values[1]))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(values[0]), math.log(values[1]))))
    return int(rng.integers(int(values[0]), int(values[1]) + 1))  # randint: high inclusive, as the YAML reads


def random_points(space: Space, num_samples: int, seed: int) -> list[dict[str, Any]]:
    """The random searcher's trials for a space with conditional keys, drawn here (seeded) as plain values.

    Unconditional keys are drawn first, then each conditional key whose conditions hold; an inactive key is
    ``None``. Every trial's config is then made of plain values: a ``tune.sample_from`` function would leave
    a placeholder in each trial's saved config, which a resumed sweep cannot turn back into the value the
    trial had (Ray 2.60 re-samples it, or passes ``('__fn_ph', <hash>)`` on into the config).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    order = [k for k in space if WHEN not in space[k]] + [k for k in space if WHEN in space[k]]
    points = []
    for _ in range(num_samples):
        chosen: dict[str, Any] = {}
        for key in order:
            if is_active(key, chosen, space):
                chosen[key] = _draw(*domain_of(space[key]), rng)
        points.append({k: chosen.get(k) for k in space})
    return points


def gives_points(space: Space, searcher: str) -> bool:
    """Whether the trials go to Tune as points (grid; random over a space with conditional keys)."""
    return searcher == "grid" or (searcher == "random" and any(WHEN in spec for spec in space.values()))


def searcher_points(space: Space, searcher: str, num_samples: int, seed: int) -> list[dict[str, Any]] | None:
    """Trials given to Tune as points to evaluate (every key set): the grid's distinct active combinations
    ``num_samples`` times, or a conditional space's random draws; None: Tune samples the space itself."""
    if not gives_points(space, searcher):
        return None
    return grid_points(space, num_samples) if searcher == "grid" else random_points(space, num_samples, seed)


class DefineByRun:
    """Optuna's define-by-run space: asks for unconditional keys first, then only the active conditional ones."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.order = [k for k in space if WHEN not in space[k]] + [k for k in space if WHEN in space[k]]

    def __call__(self, trial: Any) -> dict[str, Any] | None:
        chosen: dict[str, Any] = {}
        for key in self.order:
            if not is_active(key, chosen, self.space):
                continue
            kind, v = domain_of(self.space[key])
            if kind == "choice":
                chosen[key] = trial.suggest_categorical(key, v)
            elif kind == "randint":
                chosen[key] = trial.suggest_int(key, int(v[0]), int(v[1]))
            else:
                chosen[key] = trial.suggest_float(key, v[0], v[1], log=kind == "loguniform")
        return {k: None for k in self.space if k not in chosen} or None  # inactive keys show as None


def tune_domain(spec: dict[str, Any]) -> Any:
    """The Tune domain of an unconditional key."""
    from ray import tune

    kind, v = domain_of(spec)
    domains: dict[str, Callable[[], Any]] = {
        "choice": lambda: tune.choice(v),
        "grid": lambda: tune.grid_search(v),
        "uniform": lambda: tune.uniform(v[0], v[1]),
        "loguniform": lambda: tune.loguniform(v[0], v[1]),
        "randint": lambda: tune.randint(int(v[0]), int(v[1]) + 1),  # inclusive, like the YAML reads
    }
    return domains[kind]()


def tune_param_space(space: Space, searcher: str, seed: int) -> dict[str, Any]:
    """``Tuner(param_space=...)``. Random without conditional keys: Tune's domains. Grid, and random with
    conditional keys: plain choices that only declare the keys, since the points (:func:`searcher_points`)
    set every key of every trial (None: inactive). Optuna: empty, its define-by-run space asks."""
    if searcher == "optuna":
        return {}
    from ray import tune

    if gives_points(space, searcher):
        return {k: tune.choice(domain_of(spec)[1] + ([None] if WHEN in spec else [])) for k, spec in space.items()}
    return {k: tune_domain(spec) for k, spec in space.items()}
