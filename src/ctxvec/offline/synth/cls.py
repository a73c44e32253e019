"""Synthetic film reviews whose label needs negation, intensity and contrast to read.

See :mod:`ctxvec.offline.synth` for what the data is made to test.
"""

from __future__ import annotations

import random

import pandas as pd
from faker import Faker

from ctxvec.errors import CtxvecError
from ctxvec.offline.synth.common import DAYS, MONTHS, generators

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
        day=rng.choice(DAYS),
        city=fake.city(),
        month=rng.choice(MONTHS),
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
    rng, fake = generators(seed)
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
