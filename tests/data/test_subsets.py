"""Subset selection: seeded, disjoint, placed where asked, and checked."""

from __future__ import annotations

import numpy as np
import pytest

from ctxvec.data import select_subsets
from ctxvec.errors import CtxvecError


def test_subsets_are_seeded_disjoint_and_checked() -> None:
    a = select_subsets(100, 4, 20, seed=3)
    assert [len(s) for s in a] == [20] * 4
    assert len(set(np.concatenate(a).tolist())) == 80
    b = select_subsets(100, 4, 20, seed=3)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    c = select_subsets(100, 4, 20, seed=4)
    assert any((x != y).any() for x, y in zip(a, c, strict=True))
    starts = select_subsets(100, 2, 10, seed=3, starts=(0, 50))
    order = np.random.default_rng(3).permutation(100)
    assert (starts[1] == order[50:60]).all()
    with pytest.raises(CtxvecError, match="need more than the 100 examples"):
        select_subsets(100, 4, 30, seed=0)
    with pytest.raises(CtxvecError, match="overlap"):
        select_subsets(100, 2, 10, seed=0, starts=(0, 5))
