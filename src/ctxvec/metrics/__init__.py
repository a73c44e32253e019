"""Numbers computed from model outputs, each checked against an independent oracle in the tests.

:mod:`~ctxvec.metrics.context` (the baseline's Variance and CSE, self- and intra-sentence
similarity), :mod:`~ctxvec.metrics.geometry` (effective rank, IsoScore, random-token baseline,
class separability), :mod:`~ctxvec.metrics.heads` (per-head attention statistics),
:mod:`~ctxvec.metrics.scoring` (official SQuAD 2.0 and classification scores) and
:mod:`~ctxvec.metrics.stats` (correlations, tests and bootstrap intervals).
"""
