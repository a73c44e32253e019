"""An intervention: fine-tune one base model with a context-vector statistic in the loss, then
study the resulting panel.

:func:`run_intervention` builds a zoo (:mod:`ctxvec.offline.zoo`) of one member per (seed,
lambda) of a grid, each started from the same base checkpoint and trained on ``task loss -
lambda * R`` (:class:`ctxvec.offline.training.Regulariser`; ``R`` is Variance, CSE or IsoScore*
of the hidden states, :mod:`ctxvec.metrics.regularisers`), so a positive lambda raises the
statistic and a negative one lowers it. Members of one seed (seed twins) share the dev split,
the head's initialisation and the batch order, and differ only in lambda; lambda = 0 is plain
fine-tuning. The zoo's ``panel.toml`` gives each checkpoint its ``statistic``, ``lambda``,
``zeta`` and ``seed`` as attributes, and the study of that panel on held-out data writes them as
columns of ``subsets.csv`` and ``models.csv``. Finished members are reused, as by any zoo.

Everything lands in one folder: ``OUT/zoo`` (checkpoints, cards, ``panel.toml``) and
``OUT/study`` (the study's outputs). Left out: the dose-response analysis of those columns
(the report's), and tuning lambda (the grid is the user's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ctxvec.errors import CtxvecError, ParameterError, require_at_least
from ctxvec.loading.panels import assemble_panel
from ctxvec.offline.training import MINILM, Regulariser, layer_indices
from ctxvec.offline.zoo import CARD, Checkpoint, Member, ZooSettings, build_zoo
from ctxvec.study import StudyConfig, StudyResult, run_study
from ctxvec.tasks import get_task


@dataclass
class InterventionResult:
    checkpoints: list[Checkpoint]
    study: StudyResult


def intervention_members(
    base: str,
    statistic: str,
    lambdas: Sequence[float],
    seeds: Sequence[int],
    steps: int,
    learning_rate: float,
    batch_size: int,
    zeta: float,
    layers: tuple[int, ...] | None,
) -> list[Member]:
    """One :class:`~ctxvec.offline.zoo.Member` per (seed, lambda), seed-major, started from
    ``base`` (``"minilm"`` or a ``save_pretrained`` folder).

    Raises:
        ParameterError: an empty grid, a repeated value, too few steps, or a layer the base
            does not have.
    """
    for name, values in (("lambdas", lambdas), ("seeds", seeds)):
        if not values:
            raise ParameterError(name, "needs at least one value")
        if len(set(values)) != len(values):
            raise ParameterError(name, f"{list(values)} repeats a value")
    require_at_least("steps", steps)
    require_at_least("batch_size", batch_size)
    family, folder = _base(base)
    if layers is not None:
        layer_indices(layers, _n_hidden_states(folder))
    return [
        Member(
            f"{statistic}-lambda{float(lam):g}-seed{seed}",
            family,
            (steps,),
            learning_rate=learning_rate,
            batch_size=batch_size,
            base=folder,
            seed=seed,
            regulariser=Regulariser(statistic, float(lam), zeta, layers),
        )
        for seed in seeds
        for lam in lambdas
    ]


def run_intervention(
    task: str,
    base: str,
    data: str | Path,
    study_data: str | Path,
    out: str | Path,
    statistic: str = "isoscore",
    lambdas: Sequence[float] = (-1.0, 0.0, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int = 200,
    learning_rate: float = 1e-4,
    batch_size: int = 16,
    zeta: float = 0.2,
    layers: tuple[int, ...] | None = None,
    subsets: int | None = None,
    subset_size: int | None = None,
    subset_seed: int = 0,
    score: str = "f1",
    settings: ZooSettings | None = None,
    workers: int | None = None,
    figures: tuple[str, ...] = ("png", "svg"),
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> InterventionResult:
    """Train the (seed x lambda) grid on ``data`` into ``out/zoo`` (reusing finished members)
    and study it on ``study_data`` into ``out/study``.

    Args:
        task: ``"qa"`` or ``"cls"`` (or a registered task).
        base: ``"minilm"`` (all-MiniLM-L6-v2) or a ``save_pretrained`` folder, with or without
            a head for the task.
        data: training data (anything the task's loader reads); a tenth is held out as dev.
        study_data: the data the panel is studied on; must not be the training data.
        statistic: ``"variance"``, ``"cse"`` or ``"isoscore"``.
        lambdas: weights of the statistic; positive raises it, negative lowers it.
        seeds: one member per lambda for each.
        steps: training steps of each member (each is saved at its last step only).
        zeta: IsoScore*'s shrinkage (ignored by Variance and CSE).
        layers: hidden-state indices regularised (None: every layer after the embeddings).
        subsets, subset_size, subset_seed: the study's subsets (defaults: the task's).
        score: the task score the study correlates (:class:`~ctxvec.study.StudyConfig`).
        settings: the zoo's input lengths, dev split and warm-up (default: the zoo's).
        workers: parallel trainings (default: one per CPU core).
        figures: the study's static figure formats (:class:`~ctxvec.study.StudyConfig`).
    """
    task_obj = get_task(task)
    if str(data) == str(study_data) or (
        Path(data).exists() and Path(data).resolve() == Path(study_data).resolve()
    ):
        raise ParameterError(
            "study_data", f"is the training data ({data}); study the panel on held-out data"
        )
    if score not in task_obj.scores:  # before hours of training, not after
        raise ParameterError(
            "score",
            f"'{score}' is not a {task_obj.name} score; use one of {', '.join(task_obj.scores)}",
        )
    members = intervention_members(
        base, statistic, lambdas, seeds, steps, learning_rate, batch_size, zeta, layers
    )
    trained = task_obj.load_data(str(data), "train").fingerprint
    if task_obj.load_data(str(study_data), None).fingerprint == trained:
        raise ParameterError("study_data", f"holds the same examples as the training data ({data})")
    out = Path(out)
    checkpoints = build_zoo(
        task_obj,
        data,
        out / "zoo",
        members,
        settings=settings or ZooSettings(),
        workers=workers,
        log=log,
        progress=progress,
    )
    config = StudyConfig(
        task=task_obj.name,
        models=tuple(assemble_panel(task_obj.name, (), str(out / "zoo" / "panel.toml"))),
        data=str(study_data),
        subsets=subsets,
        subset_size=subset_size,
        seed=subset_seed,
        score=score,
        # Every layer: the statistic is regularised over all of them by default.
        settings=task_obj.settings_type(layers="all"),
        figures=figures,
    )
    study = run_study(config, out / "study", progress=progress, log=log)
    return InterventionResult(checkpoints, study)


def _base(base: str) -> tuple[str, str | None]:
    """``(family, folder)`` of a base: MiniLM's built-in weights, or a checkpoint folder (its
    family read from its zoo card, else its config's model type)."""
    if base == MINILM:
        return MINILM, None
    folder = Path(base)
    if not (folder / "config.json").is_file():
        raise ParameterError(
            "base", f"'{base}' is neither 'minilm' nor a save_pretrained folder (no config.json)"
        )
    card = folder / CARD
    if card.is_file():
        return json.loads(card.read_text(encoding="utf-8"))["family"], str(folder.resolve())
    return _config(str(folder)).model_type, str(folder.resolve())


def _n_hidden_states(folder: str | None) -> int:
    """How many hidden states the base's forward returns: its layers and the embeddings."""
    from ctxvec.loading.panels import minilm_dir

    path = folder or str(minilm_dir("the intervention's base"))
    return _config(path).num_hidden_layers + 1


def _config(path: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise CtxvecError(f"cannot read the model config in '{path}': {e}") from None
