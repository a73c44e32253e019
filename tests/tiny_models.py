"""Tiny, random, deterministic Hugging Face checkpoints of seven encoder families and three
decoder families, for tests.

:func:`make_tiny_model` writes a ``save_pretrained`` directory (config, safetensors weights and
tokenizer files) that the ``Auto*`` classes load offline. Each family keeps its own tokenizer class
and the conventions a study tool has to cope with:

* bert, electra: uncased WordPiece (``BertTokenizer``; ``ElectraTokenizer`` is an alias of it),
  ``[CLS] A [SEP] B [SEP]``, token_type_ids, padding on the right.
* roberta: byte-level BPE (``RobertaTokenizer``), ``<s> A </s></s> B </s>``, no token_type_ids,
  ``<pad>`` = 1 and position ids offset past it (``max_position_embeddings`` = max_positions + 2).
* albert: lower-cased Unigram (``AlbertTokenizer``), factorised embeddings, shared layers.
* deberta-v2: cased Unigram (``DebertaV2Tokenizer``), DeBERTa-v3 attention (relative
  c2p/p2c, log buckets, no absolute positions, ``type_vocab_size=0``).
* xlnet: cased Unigram (``XLNetTokenizer``), ``A <sep> B <sep> <cls>`` with ``<cls>`` LAST,
  padding on the LEFT, pad token type 3, relative positions, no memory (``mem_len=None``).
* mpnet: uncased WordPiece with RoBERTa's special tokens (``MPNetTokenizer``), ``<s> A </s></s>
  B </s>``, no token_type_ids, ``<pad>`` = 1 and position ids offset past it (as RoBERTa), plus
  32 relative position buckets added to every layer's attention scores; ``[UNK]`` is its unknown
  token (an unused ``<unk>`` sits at id 3, as in the real all-mpnet-base-v2).
* gpt2, llama, qwen2 (:data:`DECODER_FAMILIES`): causal decoders whose classification heads read
  the last real token; GPT-2 and Llama have no pad token (Llama prepends ``<s>``), Qwen2's
  tokenizer pads with its eos but its config has no pad id (details in
  :mod:`ctxvec.offline.families`).
* bart (:data:`ENCODER_DECODER_FAMILIES`): an encoder and a causal decoder reading it, RoBERTa's
  byte-level BPE and special tokens; its heads read the decoder's states.

:data:`FAMILIES` is :data:`ctxvec.offline.families.ALL_FAMILIES`: the six the model zoo trains
from scratch and MPNet, which the zoo only fine-tunes from real weights; the decoders are
apart (:data:`DECODER_FAMILIES`), so tests over :data:`FAMILIES` stay encoder tests.

The tokenizers and configs come from :mod:`ctxvec.offline.families` (which the model zoo also uses),
trained here on a fixed English corpus of a few dozen sentences.

Deliberately left out: pretrained weights or anything meaningful in the outputs (they are random,
only shapes and plumbing can be tested), LM heads, XLNet's beam-search QA head, and realistic
sizes: vocabularies have a few hundred pieces and the tokenizers' ``model_max_length`` is
``max_positions`` for every family (the real XLNet tokenizer has none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from transformers import (
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    PreTrainedTokenizerBase,
)

from ctxvec.offline import families

Task = Literal["qa", "cls", "base"]

FAMILIES = families.ALL_FAMILIES
DECODER_FAMILIES = families.DECODER_FAMILIES
ENCODER_DECODER_FAMILIES = families.ENCODER_DECODER_FAMILIES

_AUTO_CLASSES = {
    "qa": AutoModelForQuestionAnswering,
    "cls": AutoModelForSequenceClassification,
    "base": AutoModel,
}

_VOCAB_SIZE = 600

_CORPUS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Marie Curie won the Nobel Prize in Physics in 1903, and in Chemistry in 1911.",
    "Who discovered polonium? Marie Curie and Pierre Curie discovered it in 1898.",
    "What is the capital of France? Paris is the capital and largest city of France.",
    "When did the Berlin Wall fall? It fell on 9 November 1989.",
    "How many legs does a spider have? A spider has eight (8) legs.",
    "Where was Ada Lovelace born? She was born in London, England, on 10 December 1815.",
    "Why is the sky blue? Sunlight is scattered by molecules in the air.",
    "Which river flows through Cairo? The Nile flows through Cairo, Egypt.",
    "Mount Everest is 8,849 metres high; K2 is the second-highest mountain on Earth.",
    "The Amazon rainforest covers about 5.5 million square kilometres.",
    "Albert Einstein published the theory of general relativity in 1915.",
    "In 1969, Neil Armstrong and Buzz Aldrin walked on the Moon.",
    "Shakespeare wrote Hamlet, Macbeth and Othello around 1600.",
    "The Python language was created by Guido van Rossum and released in 1991.",
    "Water boils at 100 degrees Celsius (212 degrees Fahrenheit) at sea level.",
    "Tokyo, Japan's capital, has a population of roughly 14 million people.",
    "The Great Pyramid of Giza was built for the pharaoh Khufu.",
    "Dr. Smith's lab measured 3.14 mg/L of zinc on 2021-06-30 at 07:45.",
    "Jazz, quirky quizzes, and vexing puzzles: Joe's weekly hobbies!",
    "I loved this movie! The acting was superb and the story kept me hooked.",
    "What a waste of time. The plot was dull, the dialogue was worse, 2/10.",
    "An absolutely wonderful film -- funny, moving and beautifully shot.",
    "I didn't enjoy it; the ending felt rushed and the characters were flat.",
    "The soundtrack is great, but the pacing drags in the second half.",
    "Honestly, it's one of the best documentaries I've seen this year.",
    "Terrible! I'd never recommend it to anyone, not even my worst enemy.",
    "The director, Sofia Coppola, keeps every scene quiet and precise.",
    "Fans of the original series won't be disappointed by this sequel.",
    "It was okay... nothing special, yet not bad either.",
    "Q: What year did World War II end? A: It ended in 1945.",
    "Q: Who painted the Mona Lisa? A: Leonardo da Vinci painted it.",
    'The answer is "42", according to The Hitchhiker\'s Guide to the Galaxy.',
    "Email alice@example.com or call +1 (555) 010-9999 before 5 p.m.",
    "Prices rose by 7% in March; the index went from 104.2 to 111.5.",
    "She asked: 'Is it raining in Seattle today?' He said yes.",
    "The team scored 3 goals in the first 20 minutes & won 4-1.",
    "Bacteria, viruses and fungi can all cause infections in humans.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Every #1 hit from 1964 is listed at the end [see Appendix B].",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789",
)


def build_tokenizer(family: str) -> PreTrainedTokenizerBase:
    """A small tokenizer of the family's own class, trained on a fixed English corpus."""
    return families.build_tokenizer(family, _CORPUS, _VOCAB_SIZE)


def make_tiny_model(
    family: str,
    task: Task,
    directory: str | Path,
    *,
    num_labels: int = 2,
    id2label: dict[int, str] | None = None,
    seed: int = 0,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    max_positions: int = 512,
) -> Path:
    """Save a random ``task`` model of ``family`` and its tokenizer into ``directory``.

    ``task`` picks the head: "qa" (``AutoModelForQuestionAnswering``), "cls"
    (``AutoModelForSequenceClassification``; ``num_labels``/``id2label`` apply only here,
    two labels default to NEGATIVE/POSITIVE) or "base" (``AutoModel``). The same arguments give
    identical files. Returns the directory.
    """
    if task not in _AUTO_CLASSES:
        raise ValueError(f"unknown task {task!r}; expected one of {tuple(_AUTO_CLASSES)}")
    tokenizer = build_tokenizer(family)
    tokenizer.model_max_length = max_positions
    config = families.model_config(
        family,
        tokenizer,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        max_positions=max_positions,
    )
    if task == "cls":
        if id2label is None:
            id2label = (
                {0: "NEGATIVE", 1: "POSITIVE"}
                if num_labels == 2
                else {i: f"LABEL_{i}" for i in range(num_labels)}
            )
        if len(id2label) != num_labels:
            raise ValueError(f"id2label has {len(id2label)} labels, num_labels is {num_labels}")
        config.id2label = dict(id2label)
        config.label2id = {label: i for i, label in id2label.items()}
    torch.manual_seed(seed)
    model = _AUTO_CLASSES[task].from_config(config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
