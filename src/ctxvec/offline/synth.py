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

import random
import string
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from faker import Faker

from ctxvec import files
from ctxvec.errors import CtxvecError

LOCALE = "en_US"
# Faker's date providers draw relative to today, so dates, days and months come from the seeded
# generator instead: the same seed gives the same data on any day.
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
QUESTIONS_PER_PARAGRAPH = 3
PARAGRAPHS_PER_ARTICLE = 10

# --------------------------------------------------------------------------------------- QA

# Each fact kind: ways to state it (fields in braces) and, per question kind, the field that
# answers it and the ways to ask it. ``p`` is the person the fact is about.
_FACTS: dict[str, dict] = {
    "birth": {
        "say": (
            "{p} was born in {city}.",
            "{p} comes from the town of {city}.",
            "The hometown of {p} is {city}.",
        ),
        "ask": {
            "where": (
                "city",
                (
                    "Where was {p} born?",
                    "Which town does {p} come from?",
                    "What is the hometown of {p}?",
                    "In what city was {p} born?",
                ),
            ),
        },
    },
    "found": {
        "say": (
            "In {year}, {p} founded {org}.",
            "{p} established {org} in {year}.",
            "{org} was started by {p} in {year}.",
        ),
        "ask": {
            "when": (
                "year",
                (
                    "When did {p} found {org}?",
                    "In what year was {org} established?",
                    "What year did {p} start {org}?",
                ),
            ),
            "who": ("p", ("Who founded {org}?", "Who started {org}?", "By whom was {org} set up?")),
            "what": (
                "org",
                (
                    "What company did {p} found?",
                    "Which firm was established by {p}?",
                    "What is the name of the company {p} started?",
                ),
            ),
        },
    },
    "books": {
        "say": (
            "{p} has written {n} books.",
            "So far {p} has published {n} novels.",
            "{p} is the author of {n} books.",
        ),
        "ask": {
            "how many": (
                "n",
                (
                    "How many books has {p} written?",
                    "How many novels did {p} publish?",
                    "What is the number of books by {p}?",
                ),
            ),
        },
    },
    "job": {
        "say": (
            "{p} works as {an} {job}.",
            "By profession, {p} is {an} {job}.",
            "{p} earns a living as {an} {job}.",
        ),
        "ask": {
            "what": (
                "job",
                (
                    "What is the job of {p}?",
                    "What does {p} do for a living?",
                    "What is the profession of {p}?",
                ),
            ),
        },
    },
    "marriage": {
        "say": (
            "{p} married {spouse} on {date}.",
            "On {date}, {p} wed {spouse}.",
            "{p} and {spouse} were married on {date}.",
        ),
        "ask": {
            "when": (
                "date",
                (
                    "When did {p} marry {spouse}?",
                    "On what date did {p} wed?",
                    "When did {p} get married?",
                ),
            ),
            "who": (
                "spouse",
                ("Whom did {p} marry?", "Who is the spouse of {p}?", "Who did {p} wed?"),
            ),
        },
    },
}

_FILLERS = (
    "Both of them attended a meeting on how to {bs} in {month} {year}.",
    "Local newspapers often describe their work as {phrase}.",
    "A profile of the two appeared in a magazine in {year}.",
)


@dataclass(frozen=True)
class _Fact:
    kind: str
    values: dict[str, str]
    template: str


def _render(template: str, values: dict[str, str]) -> tuple[str, dict[str, int]]:
    """Fill ``template``; also return the character offset of each field in the result."""
    out, offsets = "", {}
    for literal, field, _, _ in string.Formatter().parse(template):
        out += literal
        if field is not None:
            offsets.setdefault(field, len(out))
            out += values[field]
    return out, offsets


def _person_facts(fake: Faker, rng: random.Random, person: str) -> dict[str, dict[str, str]]:
    year = str(rng.randint(1950, 2020))
    job = fake.job().split(",")[0].lower()
    return {
        "birth": {"p": person, "city": fake.city()},
        "found": {"p": person, "org": fake.company(), "year": year},
        "books": {"p": person, "n": str(rng.randint(2, 60))},
        "job": {"p": person, "job": job, "an": "an" if job[0] in "aeiou" else "a"},
        "marriage": {
            "p": person,
            "spouse": fake.unique.name(),
            "date": f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(1960, 2020)}",
        },
    }


def _paragraph(fake: Faker, rng: random.Random, flags: list[bool], index: int) -> dict:
    """One SQuAD paragraph whose questions are answerable where ``flags`` is True."""
    people = [fake.unique.name(), fake.unique.name()]
    facts = [_person_facts(fake, rng, p) for p in people]
    kinds = rng.sample(sorted(_FACTS), k=rng.randint(2, 3))
    stated: list[tuple[int, str]] = []  # (person index, kind)
    for kind in kinds:
        who = [0, 1] if rng.random() < 0.5 else [rng.randrange(2)]
        stated += [(i, kind) for i in who]
    rng.shuffle(stated)
    sentences: list[tuple[str, dict[str, int], tuple[int, str] | None]] = []
    for i, kind in stated:
        text, offs = _render(rng.choice(_FACTS[kind]["say"]), facts[i][kind])
        sentences.append((text, offs, (i, kind)))
    filler = {
        "bs": fake.bs(),
        "month": rng.choice(_MONTHS),
        "year": str(rng.randint(1950, 2020)),
        "phrase": fake.catch_phrase().lower(),
    }
    text, offs = _render(rng.choice(_FILLERS), filler)
    sentences.insert(rng.randrange(1, len(sentences) + 1), (text, offs, None))

    context, where = "", {}
    for text, offs, key in sentences:
        if context:
            context += " "
        if key is not None:
            where[key] = {field: len(context) + off for field, off in offs.items()}
        context += text

    # Unanswerable: a fact stated for one person only, asked about the other one.
    missing = [(1 - i, k) for i, k in stated if (1 - i, k) not in where]
    qas, asked = [], set()
    for q, answerable in enumerate(flags):
        for _ in range(50):  # re-draw until the question is new for this paragraph
            if answerable:
                i, kind = rng.choice(sorted(where))
            elif missing and rng.random() < 0.75:
                i, kind = rng.choice(missing)
            else:
                i, kind = None, rng.choice(sorted(_FACTS))
            qkind = rng.choice(sorted(_FACTS[kind]["ask"]))
            field, forms = _FACTS[kind]["ask"][qkind]
            if i is None:  # about someone or something the paragraph never mentions
                values = _person_facts(fake, rng, fake.unique.name())[kind]
            else:
                values = facts[i][kind]
            question, _ = _render(rng.choice(forms), values)
            # Paraphrases of one question count as the same question.
            key = (values["p"], kind, qkind)
            if key not in asked:
                break
        asked.add(key)
        answers = []
        if answerable:
            start = where[(i, kind)][field]
            answers = [{"text": values[field], "answer_start": start}]
        qas.append(
            {
                "id": f"synth-qa-{index:05d}-{q}",
                "question": question,
                "answers": answers,
                "is_impossible": not answerable,
            }
        )
    return {"context": context, "qas": qas}


def make_qa(n_questions: int, seed: int = 0, unanswerable: float = 1 / 3) -> dict:
    """A synthetic SQuAD 2.0 dataset (the official JSON structure) of ``n_questions``.

    Exactly ``round(n_questions * unanswerable)`` questions are unanswerable, spread at random.
    """
    if n_questions < 1:
        raise CtxvecError(f"the number of questions must be at least 1, got {n_questions}")
    if not 0 <= unanswerable <= 1:
        raise CtxvecError(f"the unanswerable share must lie in [0, 1], got {unanswerable}")
    rng, fake = _generators(seed)
    n_impossible = round(n_questions * unanswerable)
    flags = [False] * n_impossible + [True] * (n_questions - n_impossible)
    rng.shuffle(flags)
    paragraphs = [
        _paragraph(fake, rng, flags[start : start + QUESTIONS_PER_PARAGRAPH], k)
        for k, start in enumerate(range(0, n_questions, QUESTIONS_PER_PARAGRAPH))
    ]
    data = [
        {
            "title": f"Synthetic article {a}",
            "paragraphs": paragraphs[p : p + PARAGRAPHS_PER_ARTICLE],
        }
        for a, p in enumerate(range(0, len(paragraphs), PARAGRAPHS_PER_ARTICLE))
    ]
    dataset = {"version": "v2.0", "data": data}
    check_offsets(dataset)
    return dataset


def check_offsets(dataset: dict) -> None:
    """Raise unless every answer's text sits at its ``answer_start`` in its context."""
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                for answer in qa["answers"]:
                    start = answer["answer_start"]
                    if context[start : start + len(answer["text"])] != answer["text"]:
                        raise CtxvecError(
                            f"answer '{answer['text']}' of question {qa['id']} is not at offset "
                            f"{start} of its context; the data is corrupt"
                        )


# --------------------------------------------------------------------------- classification

_ASPECTS = (
    "acting",
    "plot",
    "soundtrack",
    "dialogue",
    "pacing",
    "ending",
    "camera work",
    "script",
    "cast",
    "set design",
)
_POSITIVE = (
    "wonderful",
    "brilliant",
    "engaging",
    "delightful",
    "excellent",
    "moving",
    "charming",
    "gripping",
    "clever",
    "beautiful",
)
_NEGATIVE = (
    "dull",
    "awful",
    "clumsy",
    "boring",
    "terrible",
    "weak",
    "tedious",
    "messy",
    "bland",
    "forgettable",
)
_INTENSIFIERS = ("very", "extremely", "truly", "incredibly", "absolutely")
_HEDGES = ("somewhat", "a bit", "fairly", "slightly", "rather")
# (template, negated): {a} aspect, {m} modifier + adjective.
_CLAUSES = (
    ("the {a} was {m}", False),
    ("the {a} felt {m}", False),
    ("I found the {a} {m}", False),
    ("the {a} seemed {m}", False),
    ("I would not call the {a} {m}", True),
    ("nobody could say the {a} was {m}", True),
)
_OPENERS = (
    'I watched "{title}" with {name} last {day}.',
    'My friend {name} recommended "{title}".',
    '"{title}" opened in {city} this {month}.',
    'I saw "{title}" on a {day} evening.',
)
_MARGIN = 0.75  # reviews whose weighted score is closer to zero than this are re-drawn


def _clause(rng: random.Random) -> tuple[str, float]:
    """One aspect clause and its signed weight."""
    positive = rng.random() < 0.5
    adjective = rng.choice(_POSITIVE if positive else _NEGATIVE)
    weight = 1.0 if positive else -1.0
    modifier = rng.random()
    if modifier < 0.3:
        adjective, weight = f"{rng.choice(_INTENSIFIERS)} {adjective}", 2 * weight
    elif modifier < 0.55:
        adjective, weight = f"{rng.choice(_HEDGES)} {adjective}", 0.5 * weight
    template, negated = rng.choice(_CLAUSES)
    if negated:
        weight = -weight
    return template.format(a=rng.choice(_ASPECTS), m=adjective), weight


def _review(fake: Faker, rng: random.Random) -> tuple[str, float]:
    opener = rng.choice(_OPENERS).format(
        title=fake.catch_phrase(),
        name=fake.first_name(),
        day=rng.choice(_DAYS),
        city=fake.city(),
        month=rng.choice(_MONTHS),
    )
    parts, score = [opener], 0.0
    for _ in range(rng.randint(2, 3)):
        first, w1 = _clause(rng)
        if rng.random() < 0.35:
            second, w2 = _clause(rng)
            # Contrast: what follows "but" carries the verdict.
            if rng.random() < 0.5:
                sentence = f"{first}, but {second}."
            else:
                sentence = f"Although {first}, {second}."
            score += 0.5 * w1 + 1.5 * w2
        else:
            sentence, score = f"{first}.", score + w1
        parts.append(sentence[0].upper() + sentence[1:])
    return " ".join(parts), score


def make_cls(n_texts: int, seed: int = 0, label_noise: float = 0.0) -> pd.DataFrame:
    """Synthetic reviews: a frame with ``id``, ``text`` and ``label`` (0 neg, 1 pos).

    ``n_texts`` must be even: each class gets exactly half. ``label_noise`` flips that share of
    labels, half of the flips in each class, so the classes stay balanced.
    """
    if n_texts < 2 or n_texts % 2:
        raise CtxvecError(f"the number of texts must be even and at least 2, got {n_texts}")
    if not 0 <= label_noise <= 0.5:
        raise CtxvecError(f"label noise must lie in [0, 0.5], got {label_noise}")
    rng, fake = _generators(seed)
    wanted = [0, 1] * (n_texts // 2)
    rng.shuffle(wanted)
    texts, labels = [], []
    for label in wanted:
        while True:
            text, score = _review(fake, rng)
            if abs(score) >= _MARGIN and int(score > 0) == label:
                break
        texts.append(text)
        labels.append(label)
    flips = round(n_texts * label_noise / 2)
    # Both classes are drawn from before any label changes, so each loses and gains ``flips``.
    chosen = [i for c in (0, 1) for i in rng.sample(_indices(labels, c), flips)]
    for i in chosen:
        labels[i] = 1 - labels[i]
    return pd.DataFrame(
        {"id": [f"synth-cls-{i:06d}" for i in range(n_texts)], "text": texts, "label": labels}
    )


def _indices(labels: list[int], value: int) -> list[int]:
    return [i for i, label in enumerate(labels) if label == value]


# --------------------------------------------------------------------------------- writing


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


def _generators(seed: int) -> tuple[random.Random, Faker]:
    """The seeded random generator and Faker instance of one dataset."""
    fake = Faker(LOCALE)
    fake.seed_instance(seed)
    return random.Random(seed), fake
