"""Panel files' model attributes (ctxvec.loading.panels, ctxvec.loading.names.ModelSpec)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec
from ctxvec.loading.panels import panel_from_toml


def test_attributes_as_a_table_or_inline_become_pairs_in_their_order(tmp_path) -> None:
    panel = tmp_path / "panel.toml"
    panel.write_text(
        '[[models]]\nid = "a"\n[models.attributes]\nfamily = "bert"\nsteps = 4_000\n'
        "lambda = 0.5\nintervention = true\n"
        '[[models]]\nid = "b"\nattributes = { steps = 10, family = "roberta" }\n'
        '[[models]]\nid = "c"\n'
    )
    a, b, c = panel_from_toml(panel, "qa")
    assert a.attributes == (
        ("family", "bert"),
        ("steps", 4000),
        ("lambda", 0.5),
        ("intervention", True),
    )
    assert b.attribute_map == {"steps": 10, "family": "roberta"}
    assert c.attributes == () and c == ModelSpec("c")


def test_a_spec_with_attributes_stays_hashable_and_takes_a_mapping() -> None:
    spec = ModelSpec("x", attributes={"family": "bert", "seed": 1})
    assert spec.attributes == (("family", "bert"), ("seed", 1))
    assert {spec: 1}[dataclasses.replace(spec)] == 1


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('attributes = { family = ["a"] }', "attribute 'family' = ['a'] is not a scalar"),
        ("attributes = { size = { n = 1 } }", "attribute 'size' = {'n': 1} is not a scalar"),
        ("attributes = { day = 2024-01-01 }", "attribute 'day' = datetime.date(2024, 1, 1)"),
        ("attributes = { loss = nan }", "attribute 'loss' = nan is not a scalar"),
        ('attributes = "bert"', "has attributes = 'bert'; give a table"),
    ],
)
def test_a_non_scalar_attribute_is_refused_in_one_line(tmp_path, line, says) -> None:
    panel = tmp_path / "panel.toml"
    panel.write_text(f'[[models]]\nid = "a"\n{line}\n')
    with pytest.raises(CtxvecError, match="panel file .*" + re.escape(says)):
        panel_from_toml(panel, "qa")
