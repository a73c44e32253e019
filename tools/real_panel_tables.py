"""The tables of docs/real-data.md, printed from a trained panel and its study folders.

Nothing here computes a statistic: the held-out scores come from each checkpoint's
``card.json`` (dev score, training time) and the study's ``subsets.csv`` (means over subsets);
the correlations are read from ``correlations.json`` as the study wrote them.

    .venv/bin/python tools/real_panel_tables.py runs/real-panel/cls runs/real-imdb
    .venv/bin/python tools/real_panel_tables.py runs/real-panel/qa runs/real-squad
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from ctxvec.metrics.registry import REGISTRY, label

# The registry's labels, with the separability metrics named as docs/real-data.md names them.
METRICS = {
    **{name: label(name) for name in REGISTRY},
    **{
        f"{name}_{pooling}": f"{label} ({where})"
        for name, label in (
            ("fisher_ratio", "Fisher ratio"),
            ("silhouette", "silhouette"),
            ("probe_accuracy", "linear probe"),
        )
        for pooling, where in (("summary", "summary token"), ("mean", "mean vector"))
    },
}


def num(x: float, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) < 10**-digits and x != 0:
        return f"{x:.0e}"
    return f"{x:.{digits}f}"


def held_out(zoo: Path, study: Path) -> pd.DataFrame:
    subsets = pd.read_csv(study / "subsets.csv")
    rows = []
    for card_path in sorted(zoo.glob("*/card.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        mine = subsets[subsets["model"] == card["name"]]
        score = {"qa": ["f1", "HasAns_f1", "NoAns_f1"], "cls": ["accuracy", "f1"]}[card["task"]]
        rows.append(
            {
                "checkpoint": card["name"],
                "seed": card["seed"],
                "steps": card["steps"],
                "train s": card["train_seconds"],
                f"dev {card['dev_score']['metric']}": card["dev_score"]["value"],
                **{f"test {s}": round(mine[s].mean(), 1) for s in score},
                "Variance": round(mine["variance"].mean(), 3),
                "CSE": round(mine["cse"].mean(), 3),
            }
        )
    # Encoder, then seed, then budget: each training run's checkpoints together.
    table = pd.DataFrame(rows)
    table["run"] = table["checkpoint"].str.replace(r"-step\d+$", "", regex=True)
    return table.sort_values(["run", "steps"], kind="stable").drop(columns="run")


def correlations(study: Path) -> str:
    doc = json.loads((study / "correlations.json").read_text(encoding="utf-8"))
    lines = [
        f"score: {doc['score']}, {doc['n_models']} checkpoints, {doc['n_points']} points",
        "",
        "| metric | model-level r [95% CI] | p | permutation p | Spearman rho | "
        "within-model r (p) |",
        "|---|---|---|---|---|---|",
    ]
    for name, cell in doc["metrics"].items():
        m, w, perm = cell["model_level"], cell["within_model"], cell["model_permutation"]
        lines.append(
            f"| {METRICS.get(name, name)} | {num(m['pearson_r'])} [{num(m['pearson_ci_low'])}, "
            f"{num(m['pearson_ci_high'])}] | {num(m['pearson_p'], 3)} | {num(perm['p'], 3)} | "
            f"{num(m['spearman_rho'])} | {num(w['r'])} ({num(w['p'], 3)}) |"
        )
    critical = next(iter(doc["metrics"].values()))["critical_r"]
    lines.append("")
    lines.append(f"critical |r| for p < 0.05 with {critical['n']} checkpoints: {critical['r']:.2f}")
    attention = doc.get("attention")
    if attention:
        lines += ["", "| attention statistic | depth bin | model-level r | p | permutation p |"]
        lines.append("|---|---|---|---|---|")
        for stat, bins in attention["statistics"].items():
            for where, cell in bins.items():
                m = cell["model_level"]
                lines.append(
                    f"| {stat} | {where} | {num(m['pearson_r'])} | {num(m['pearson_p'], 3)} | "
                    f"{num(cell['model_permutation']['p'], 3)} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("zoo", type=Path, help="the trained panel's folder (cards)")
    parser.add_argument("study", type=Path, help="the study's output folder")
    args = parser.parse_args()
    print(held_out(args.zoo, args.study).to_markdown(index=False))
    print()
    print(correlations(args.study))


if __name__ == "__main__":
    main()
