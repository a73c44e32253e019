"""Sample data for the tests: small QA and classification data files (two SQuAD 2.0 paragraphs
with answerable and unanswerable questions, short labelled reviews), a few texts and questions
for passes without a file, names of a large panel, and where the real data sets lie.

Plain constants and functions, importable at collection time (``pythonpath = ["tests"]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ctxvec.data import QAExample, TextExample

# The real data sets (../shared/data beside the checkout); tests that need them skip without.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SQUAD_DEV = SHARED_DATA / "squad_v2" / "dev-v2.0-cs224n.json"
IMDB_TEST = SHARED_DATA / "imdb" / "test.parquet"

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


# Texts of very different lengths, so that every batch of them is padded.
TEXTS = [
    "Great.",
    "I loved this movie! The acting was superb and the story kept me hooked.",
    "What a waste of time. The plot was dull, the dialogue was worse, 2/10.",
    "It was okay... nothing special, yet not bad either.",
    "The soundtrack is great, but the pacing drags in the second half, and the ending felt "
    "rushed; still, fans of the original series won't be disappointed by this sequel at all.",
    "Terrible!",
    "Honestly, it's one of the best documentaries I've seen this year.",
]

# One context and questions about it, answerable or not, each within one window.
CONTEXT = (
    "Marie Curie won the Nobel Prize in Physics in 1903, and in Chemistry in 1911. "
    "She and Pierre Curie discovered polonium in 1898."
)
QUESTIONS = [
    ("q1", "Who discovered polonium?", ("Marie Curie",)),
    ("q2", "When did she win the prize in Chemistry?", ("1911",)),
    ("q3", "What is the capital of France?", ()),
    ("q4", "Which prize?", ("Nobel Prize",)),
    ("q5", "In which year was polonium discovered by the Curies?", ("1898",)),
]
QA_EXAMPLES = [QAExample(i, q, CONTEXT, a, ()) for i, q, a in QUESTIONS]

# A zoo's 28 ``family-stepN`` checkpoints and two hub ids: a large panel's names.
ZOO_30 = [
    f"{family}-step{step}"
    for family in ("bert", "roberta", "albert", "electra", "deberta", "xlnet", "minilm")
    for step in (10, 20, 100, 300)
] + ["sentence-transformers/all-MiniLM-L6-v2", "deepset/deberta-v3-large-squad2"]


# Labelled reviews for tests on real weights where the IMDB test file is absent.
REVIEW_FALLBACK = [
    ("I loved this movie! The acting was superb and the story kept me hooked.", 1),
    ("What a waste of time. The plot was dull, the dialogue was worse, 2/10.", 0),
    ("An absolutely wonderful film -- funny, moving and beautifully shot.", 1),
    ("Terrible!", 0),
    ("Honestly, it's one of the best documentaries I've seen this year.", 1),
    ("I didn't enjoy it; the ending felt rushed and the characters were flat.", 0),
    ("Great.", 1),
    ("The soundtrack is great, but the pacing drags in the second half.", 0),
]


def short_reviews(n: int) -> list[TextExample]:
    """``n`` short labelled texts, half of each label: the shortest of the first 2,000 IMDB test
    reviews of each label, or the fallback sentences (numbered to tell repeats apart)."""
    if IMDB_TEST.is_file():
        # The file is sorted by label: the first reviews of each.
        head = pd.read_parquet(IMDB_TEST, columns=["text", "label"]).groupby("label").head(2000)
        chars = head["text"].str.len()
        picked = head.loc[sorted(
            i for label in (0, 1) for i in chars[head["label"] == label].nsmallest(n // 2).index
        )]  # fmt: skip
        rows = list(zip(picked["text"], picked["label"], strict=True))
    else:
        rows = [(f"{text} ({i})", label) for i, (text, label) in enumerate(REVIEW_FALLBACK * n)][:n]
    return [TextExample(f"r{i}", text, int(label)) for i, (text, label) in enumerate(rows)]
