"""What the generators share: the text ones' locale, calendar names and seeded pair of
generators; the media ones' difficulty check and balanced class order."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from faker import Faker

from ctxvec.errors import CtxvecError

LOCALE = "en_US"
# Faker's date providers draw relative to today, so dates, days and months come from the seeded
# generator instead: the same seed gives the same data on any day.
MONTHS = (
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
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def generators(seed: int) -> tuple[random.Random, Faker]:
    """The seeded random generator and Faker instance of one dataset."""
    fake = Faker(LOCALE)
    fake.seed_instance(seed)
    return random.Random(seed), fake


def check_difficulty(difficulty: float) -> None:
    """Refuse a difficulty outside [0, 1] (the image and audio generators' one knob)."""
    if not 0 <= difficulty <= 1:
        raise CtxvecError(f"difficulty must lie in [0, 1], got {difficulty}")


def balanced_classes(
    rng: np.random.Generator, classes: Sequence[str], n: int, what: str
) -> list[str]:
    """``n`` class names in a shuffled order, exactly ``n / len(classes)`` of each."""
    k = len(classes)
    if n < k or n % k:
        raise CtxvecError(f"the number of {what} must be a positive multiple of {k}, got {n}")
    labels = list(classes) * (n // k)
    return [labels[i] for i in rng.permutation(n)]
