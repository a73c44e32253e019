"""The attention views of the real all-mpnet-base-v2 weights: a text and a question-context
pair, with the separators its tokenizer writes (skips, saying why, without the weights)."""

from __future__ import annotations

import numpy as np
from sample_data import short_reviews
from transformers import AutoTokenizer

from ctxvec.attention import attend, load_for_attention
from ctxvec.loading import ModelSpec
from ctxvec.metrics.heads import CONTEXT, SPECIAL

NAME = "all-mpnet-base-v2"


def load(weights, task: str):
    """The weights with the task's head, fresh (none in the folder), on the eager path."""
    return load_for_attention(ModelSpec(str(weights), NAME), task, "cpu", allow_untrained_head=True)


def test_attention_weights_of_a_text(mpnet_weights) -> None:
    lm = load_for_attention(
        ModelSpec(str(mpnet_weights), NAME), "cls", "cpu", allow_untrained_head=True
    )
    text = short_reviews(2)[0].text
    attn = attend(lm, text=text)
    n = len(AutoTokenizer.from_pretrained(mpnet_weights)(text)["input_ids"])
    assert attn.weights.shape == (12, 12, n, n) and len(attn.tokens) == n
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    assert attn.tokens[0] == "<s>" and attn.tokens[-1] == "</s>"
    assert list(np.flatnonzero(attn.segment == SPECIAL)) == [0, n - 1]
    assert attn.prediction in set(lm.model.config.id2label.values())
    table = attn.statistics()
    assert len(table) == 12 * 12 and (table["entropy"] <= table["uniform_entropy"] + 1e-9).all()


def test_attention_weights_of_a_qa_pair(mpnet_weights) -> None:
    lm = load_for_attention(
        ModelSpec(str(mpnet_weights), NAME), "qa", "cpu", allow_untrained_head=True
    )
    context = "Marie Curie and Pierre Curie discovered polonium in 1898."
    attn = attend(lm, question="Who discovered polonium?", context=context)
    n = len(attn.tokens)
    assert attn.weights.shape == (12, 12, n, n)
    np.testing.assert_allclose(attn.weights.sum(-1), 1.0, atol=1e-5)
    # <s> question </s></s> context </s>: the double separator is found by the mask, not moved.
    boundary = attn.boundary
    assert attn.tokens[boundary - 2 : boundary] == ["</s>", "</s>"]
    assert list(np.flatnonzero(attn.segment == SPECIAL)) == [0, boundary - 2, boundary - 1, n - 1]
    assert (attn.segment[boundary : n - 1] == CONTEXT).all()
    assert attn.prediction == "" or attn.prediction in context
