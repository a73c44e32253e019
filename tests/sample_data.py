"""Small QA and classification data files for the study tests: two SQuAD 2.0 paragraphs with
answerable and unanswerable questions, and short labelled reviews."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

PARAGRAPHS = [
    (
        "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911. "
        "She and Pierre Curie discovered polonium in 1898 in Paris.",
        [
            ("Who discovered polonium?", ["Marie Curie", "She and Pierre Curie"]),
            ("When did she win the prize in Chemistry?", ["1911"]),
            ("Where was polonium discovered?", ["Paris"]),
            ("Who discovered radium in 1920?", []),
            ("What did Marie Curie win in 1903?", ["the Nobel Prize in Physics"]),
        ],
    ),
    (
        "The Loire flows into the Atlantic at Saint-Nazaire. It is the longest river in France, "
        "about 1,006 kilometres long, and drains a fifth of the country.",
        [
            ("Where does the Loire end?", ["Saint-Nazaire", "at Saint-Nazaire"]),
            ("How long is the Loire?", ["about 1,006 kilometres", "1,006 kilometres"]),
            ("Which sea does the Seine flow into?", []),
            ("What is the longest river in France?", ["The Loire"]),
            ("How much of Germany does the Loire drain?", []),
        ],
    ),
]


def squad_json(path: Path, copies: int = 2) -> Path:
    data = []
    for c in range(copies):
        paragraphs = []
        for p, (context, qas) in enumerate(PARAGRAPHS):
            entries = []
            for q, (question, answers) in enumerate(qas):
                entries.append(
                    {
                        "id": f"c{c}p{p}q{q}",
                        "question": question,
                        "answers": [{"text": a, "answer_start": context.index(a)} for a in answers],
                        "is_impossible": not answers,
                    }
                )
            paragraphs.append({"context": context, "qas": entries})
        data.append({"title": f"article {c}", "paragraphs": paragraphs})
    path.write_text(json.dumps({"version": "v2.0", "data": data}))
    return path


def reviews(path: Path, labels: list) -> Path:
    texts = ["I loved it, a wonderful film.", "Dull plot and worse dialogue.", "It was fine."]
    rows = [{"text": texts[i % 3] + f" ({i})", "label": lab} for i, lab in enumerate(labels)]
    pd.DataFrame(rows).to_parquet(path)
    return path
