"""Which architectures ctxvec refuses up front, before any weight loads, and why.

ctxvec measures one stack of self-attention layers whose hidden states hold one vector per
input token, over padded batches whose padding the layers mask out. An architecture that breaks
one of these assumptions would end in a traceback, or worse in silently wrong numbers; it is
refused instead, with one line naming it and the reason (:func:`refusal`, called by
:func:`ctxvec.loading.load_model` on the checkpoint's config, so ``ctxvec study`` and
``ctxvec attention`` refuse alike). The rules, in order:

* an encoder-decoder whose config nests one sub-config per stack (T5Gemma) instead of giving
  each stack's depth (:func:`ctxvec.loading.stacks.stack_depths`), by rule; other
  encoder-decoders run, on the stack a study chooses (:mod:`ctxvec.loading.stacks`);
* an X-MOD-like model whose adapters need a language and whose config names none
  (``languages`` without ``default_language``), by rule;
* the named architectures of :data:`REFUSED`: hidden states that change length between layers,
  token mixing that ignores the attention mask (padding would leak into real tokens), inputs
  that are more than text;
* a composite model whose config has no ``num_hidden_layers`` of its own (vision-language
  models, whose text stack sits in a sub-config), by rule.

A question-answering head also needs a fast tokenizer (:func:`tokenizer_refusal`, checked once
the tokenizer is loaded, still before any weight).

Left out: making the refused architectures work (running mask-ignoring mixers unpadded:
:mod:`ctxvec.inference.batching` pads up to 5% of a CPU batch and every GPU batch to a multiple
of 64, so that would take batches of equal length chosen in the forward pass and recorded in the
manifest), and any check of the weights; whatever is not refused is tried, and
``tests/loading/test_support.py`` runs a tiny random model of every architecture in the
installed transformers' question-answering and sequence-classification mappings through both
studies (the results are in ``docs/study.md``, "Architectures"). transformers is imported on the
first call only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctxvec.loading.stacks import is_encoder_decoder, stack_depths


@dataclass(frozen=True)
class Refusal:
    """Why an architecture is refused (``reason``) and what the user can do instead."""

    reason: str
    remedy: str

    def line(self) -> str:
        return f"{self.reason}; {self.remedy}"


NESTED_STACKS = Refusal(
    "an encoder-decoder whose config nests its encoder's and decoder's configs, so ctxvec "
    "cannot tell how deep each stack is",
    "use an encoder-decoder with a flat config (BART, T5) or an encoder-only checkpoint",
)
NO_LANGUAGE = Refusal(
    "its adapters need the input's language and its config names no default_language",
    "save the model after set_default_language('xx_XX'), or use an XLM-R checkpoint",
)
CHANGES_LENGTH = Refusal(
    "its hidden states change length between layers, so tokens and mask no longer line up",
    "use a model whose layers keep one vector per input token",
)
IGNORES_MASK = Refusal(
    "its token mixing ignores the attention mask, so padded batches change real tokens' vectors",
    "use a model whose mixing honours the attention mask",
)
NO_LAYER_COUNT = Refusal(
    "a composite model: its config holds sub-configs (text, vision) and no num_hidden_layers "
    "of its own, and ctxvec measures the layers of one stack",
    "use a text-only checkpoint of the family where there is one (e.g. gemma3_text)",
)
NOT_TEXT = Refusal(
    "its tokenizer or head needs more than text (an image, visual features, a table, word "
    "boxes or HTML paths)",
    "use a text-only checkpoint",
)

# Refused by name (``config.model_type``): what no field of the config tells.
REFUSED: dict[str, Refusal] = {
    # Funnel pools 512 -> 256 tokens, CANINE downsamples characters 512 -> 128, Reformer pads
    # to a multiple of its chunk length, Perceiver's layers hold a fixed number of latents.
    "funnel": CHANGES_LENGTH,
    "canine": CHANGES_LENGTH,
    "reformer": CHANGES_LENGTH,
    "perceiver": CHANGES_LENGTH,
    # Fourier transforms, convolutions and sampled or landmark attention mix padding in: a
    # padded batch moved Variance/CSE by up to 1e-3 against the same examples one at a time.
    "fnet": IGNORES_MASK,
    "yoso": IGNORES_MASK,
    "nystromformer": IGNORES_MASK,
    "convbert": IGNORES_MASK,
    # Document, web-page, table and vision-language models: their heads need an image or
    # visual features (LayoutLMv2, LXMERT), or their tokenizers words with boxes (LayoutLMv3),
    # HTML nodes with xpaths (MarkupLM) or a table with 7 token types per token (TAPAS).
    "layoutlmv2": NOT_TEXT,
    "layoutlmv3": NOT_TEXT,
    "lxmert": NOT_TEXT,
    "markuplm": NOT_TEXT,
    "tapas": NOT_TEXT,
}


def refusal(config: object) -> str | None:
    """Why ctxvec refuses a model with this ``config`` and what to do instead (one line), or
    None when it runs it."""
    found = _rule(config)
    return found.line() if found is not None else None


def _rule(config: object) -> Refusal | None:
    model_type = getattr(config, "model_type", "")
    if is_encoder_decoder(config) and stack_depths(config) is None:
        return NESTED_STACKS
    if getattr(config, "languages", None) and getattr(config, "default_language", None) is None:
        return NO_LANGUAGE
    if model_type in REFUSED:
        return REFUSED[model_type]
    if not hasattr(config, "num_hidden_layers"):
        return NO_LAYER_COUNT
    return None


def tokenizer_refusal(tokenizer: object, auto_class: str) -> str | None:
    """Why ctxvec refuses ``tokenizer`` for the head ``auto_class`` (one line), or None: question
    answering cuts answers from the context by the offset mapping, which only a fast tokenizer
    gives (a Python one, such as XLM's or FlauBERT's, silently leaves it out)."""
    if auto_class == "AutoModelForQuestionAnswering" and not getattr(tokenizer, "is_fast", True):
        return (
            f"its tokenizer ({type(tokenizer).__name__}) is a Python one without the offset "
            "mapping that question answering cuts answers by; use a checkpoint with a fast "
            "tokenizer (tokenizer.json)"
        )
    return None


def head_class_name(config: object, auto_class: str) -> str:
    """The name of the class transformers loads ``config`` with under ``auto_class`` (e.g.
    ``BartForQuestionAnswering``), else the config's first architecture or its own class."""
    from transformers.models.auto import modeling_auto

    mappings = {
        "AutoModelForQuestionAnswering": modeling_auto.MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES,
        "AutoModelForSequenceClassification": (
            modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
        ),
        "AutoModelForImageClassification": (
            modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES
        ),
        "AutoModelForAudioClassification": (
            modeling_auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES
        ),
    }
    model_type = getattr(config, "model_type", "")
    name = mappings.get(auto_class, {}).get(model_type)
    architectures = getattr(config, "architectures", None) or [type(config).__name__]
    return name or architectures[0]


def refusal_line(name: str, config: object, auto_class: str) -> str | None:
    """The one line that refuses model ``name`` (``config``) loaded with ``auto_class``:
    ``model 'NAME' is a <model_type> (<Class>): <reason>; <what to do>``, or None."""
    why = refusal(config)
    if why is None:
        return None
    model_type = getattr(config, "model_type", "") or "model"
    return f"model '{name}' is a {model_type} ({head_class_name(config, auto_class)}): {why}"
