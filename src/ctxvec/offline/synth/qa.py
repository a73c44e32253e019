"""Synthetic SQuAD 2.0 data: paragraphs about two fictional people, and questions about them.

See :mod:`ctxvec.offline.synth` for what the data is made to test.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from faker import Faker

from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.common import MONTHS, generators

QUESTIONS_PER_PARAGRAPH = 3
PARAGRAPHS_PER_ARTICLE = 10

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
            "date": f"{rng.choice(MONTHS)} {rng.randint(1, 28)}, {rng.randint(1960, 2020)}",
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
        "month": rng.choice(MONTHS),
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
    rng, fake = generators(seed)
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
