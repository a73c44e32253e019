"""A built-in benchmark: deterministic synthetic QA and review-classification data.

:func:`make_qa` builds official SQuAD 2.0 JSON: paragraphs about two fictional people (names,
cities, companies and jobs from Faker), each fact stated in one of several phrasings, and
questions of five kinds (who / where / when / what / how many) in paraphrased forms. The other
person's facts are distractors carrying the same kind of answer, so picking the span needs
reading the names. A share of the questions (a third by default) is unanswerable in the SQuAD 2.0
style: it asks about a fact the paragraph leaves out for that person while stating it for the
other one, or about a person or company the paragraph never mentions. Every answer's character
offset is checked against its context before anything is written.

:func:`make_cls` builds a table (written as parquet) of ``id``, ``text``, ``label`` (0 negative,
1 positive, as IMDB): film reviews of several aspect clauses whose polarity is flipped by
negation ("I would not call the plot engaging"), scaled by intensifiers and hedges, and
reweighted by contrast ("... but ..."): the clause after "but" counts three times as much as the
one before. The label is the sign of the weighted sum, so counting positive and negative words
is not enough. Classes are exactly balanced; optional label noise flips the same number of
labels in each class.

Both are deterministic for a seed (Faker and ``random.Random`` are seeded, the Faker version is
pinned, and Faker's date providers, which draw relative to today, are not used) and are read
back by the study's own loaders. Deliberately left out: other languages, multi-sentence answers,
several gold answers per question, and any claim of realism beyond "needs reading": this is a
controlled benchmark, not a substitute for real data.
"""

from __future__ import annotations

from pathlib import Path

from ctxvec import files
from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.cls import make_cls
from ctxvec.offline.synth.qa import check_offsets, make_qa

__all__ = ["check_offsets", "make_cls", "make_qa", "write_cls", "write_qa"]


def write_qa(
    path: str | Path, n_questions: int, seed: int = 0, unanswerable: float = 1 / 3
) -> Path:
    """Generate with :func:`make_qa` and write SQuAD 2.0 JSON to ``path`` (atomically)."""
    path = Path(path)
    if path.suffix != ".json":
        raise CtxvecError(f"QA data is written as SQuAD JSON; give a .json path, not '{path}'")
    files.write_json(path, make_qa(n_questions, seed, unanswerable))
    return path


def write_cls(path: str | Path, n_texts: int, seed: int = 0, label_noise: float = 0.0) -> Path:
    """Generate with :func:`make_cls` and write parquet to ``path`` (atomically)."""
    path = Path(path)
    if path.suffix != ".parquet":
        raise CtxvecError(
            f"classification data is written as parquet; give a .parquet path, not '{path}'"
        )
    files.write_parquet(path, make_cls(n_texts, seed, label_noise))
    return path
