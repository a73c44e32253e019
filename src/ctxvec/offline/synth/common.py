"""What both generators share: the locale, calendar names, and one seeded pair of generators."""

from __future__ import annotations

import random

from faker import Faker

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
