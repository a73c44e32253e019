"""Tiny, random, deterministic Hugging Face checkpoints of six encoder families, for tests.

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

Special-token ids follow the real checkpoints for pad/unk/cls/sep; ``[MASK]``/``<mask>`` comes
right after them instead of at the end of the vocabulary.

Deliberately left out: pretrained weights or anything meaningful in the outputs (they are random,
only shapes and plumbing can be tested), SentencePiece ``.model`` files and the slow tokenizers,
byte fallback for the Unigram tokenizers (unseen characters become the unknown token, as in the
real ones), LM heads, XLNet's beam-search QA head, and realistic sizes: vocabularies have a few
hundred pieces and the tokenizers' ``model_max_length`` is ``max_positions`` for every family
(the real XLNet tokenizer has none).
"""

from __future__ import annotations

import functools
import json
import math
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AlbertConfig,
    AlbertTokenizer,
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    BertConfig,
    BertTokenizer,
    DebertaV2Config,
    DebertaV2Tokenizer,
    ElectraConfig,
    ElectraTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    RobertaConfig,
    RobertaTokenizer,
    XLNetConfig,
    XLNetTokenizer,
)

Task = Literal["qa", "cls", "base"]

FAMILIES: tuple[str, ...] = ("bert", "roberta", "albert", "electra", "deberta-v2", "xlnet")

_AUTO_CLASSES = {
    "qa": AutoModelForQuestionAnswering,
    "cls": AutoModelForSequenceClassification,
    "base": AutoModel,
}

_VOCAB_SIZE = 600
_PRINTABLE = string.ascii_letters + string.digits + string.punctuation

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


@dataclass(frozen=True)
class _TokenizerSpec:
    cls: type[PreTrainedTokenizerBase]
    algorithm: Literal["wordpiece", "bpe", "unigram"]
    special_tokens: tuple[str, ...]  # in id order, at the start of the vocabulary


_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_TOKENIZER_SPECS: dict[str, _TokenizerSpec] = {
    "bert": _TokenizerSpec(BertTokenizer, "wordpiece", _BERT_SPECIALS),
    "electra": _TokenizerSpec(ElectraTokenizer, "wordpiece", _BERT_SPECIALS),
    "roberta": _TokenizerSpec(RobertaTokenizer, "bpe", ("<s>", "<pad>", "</s>", "<unk>", "<mask>")),
    # AlbertTokenizer hard-codes unk_id=1.
    "albert": _TokenizerSpec(
        AlbertTokenizer, "unigram", ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")
    ),
    "deberta-v2": _TokenizerSpec(
        DebertaV2Tokenizer, "unigram", ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")
    ),
    # XLNetTokenizer defaults to unk_id=0.
    "xlnet": _TokenizerSpec(
        XLNetTokenizer,
        "unigram",
        ("<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"),
    ),
}


def _spec(family: str) -> _TokenizerSpec:
    if family not in _TOKENIZER_SPECS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return _TOKENIZER_SPECS[family]


@functools.cache
def _trained_model_json(family: str) -> str:
    """The family's tokenizer model trained on the corpus, as `tokenizers` JSON (cached)."""
    spec = _spec(family)
    # The class rebuilds its normalizer and pre-tokenizer on every load, so train with the ones
    # a default instance has: then the saved vocabulary tokenizes exactly as it was trained.
    pipeline = spec.cls().backend_tokenizer
    special_tokens = list(spec.special_tokens)
    if spec.algorithm == "bpe":
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        # Every printable character (and the metaspace) so that unseen words rarely become unknown.
        alphabet = sorted(set(pipeline.normalizer.normalize_str(_PRINTABLE)) | {"▁"})
    if spec.algorithm == "wordpiece":
        unk = next(token for token in special_tokens if "UNK" in token)
        # The trainer numbers "##x" pieces in hash-map order, which breaks ties between merges
        # differently on every run; listing them up front pins their ids.
        special_tokens += [f"##{char}" for char in alphabet if char != "▁"]
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        trainer: trainers.Trainer = trainers.WordPieceTrainer(
            vocab_size=_VOCAB_SIZE,
            special_tokens=special_tokens,
            initial_alphabet=alphabet,
            show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=_VOCAB_SIZE,
            special_tokens=special_tokens,
            initial_alphabet=alphabet,
            show_progress=False,
        )
    tokenizer.normalizer = pipeline.normalizer
    tokenizer.pre_tokenizer = pipeline.pre_tokenizer
    tokenizer.train_from_iterator(_CORPUS, trainer=trainer)
    if spec.algorithm == "unigram":
        return json.dumps({"vocab": _unigram_pieces(tokenizer, spec.special_tokens)})
    return json.dumps(json.loads(tokenizer.to_str())["model"])


def _unigram_pieces(bpe: Tokenizer, special_tokens: tuple[str, ...]) -> list[tuple[str, float]]:
    """SentencePiece-style (piece, log-probability) list from a BPE tokenizer trained on the corpus.

    `tokenizers`' UnigramTrainer is not reproducible (its EM sums over hash maps, so scores and
    piece order change from run to run); the BPE trainer is, so it picks the pieces and their
    frequency in the BPE-encoded corpus (add-one smoothed) gives the unigram scores.
    """
    counts = Counter(
        token for encoding in bpe.encode_batch(list(_CORPUS)) for token in encoding.tokens
    )
    pieces = [piece for piece in bpe.get_vocab() if piece not in special_tokens]
    total = sum(counts[piece] + 1 for piece in pieces)
    scored = [(piece, math.log((counts[piece] + 1) / total)) for piece in pieces]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [(token, 0.0) for token in special_tokens] + scored


def build_tokenizer(family: str) -> PreTrainedTokenizerBase:
    """A small tokenizer of the family's own class, trained on a fixed English corpus."""
    spec = _spec(family)
    model = json.loads(_trained_model_json(family))
    if spec.algorithm == "unigram":
        vocab = [(piece, score) for piece, score in model["vocab"]]
        return spec.cls(vocab=vocab, model_max_length=512)
    if spec.algorithm == "bpe":
        merges = [tuple(merge) for merge in model["merges"]]
        return spec.cls(vocab=model["vocab"], merges=merges, model_max_length=512)
    return spec.cls(vocab=model["vocab"], model_max_length=512)


def _config(
    family: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    max_positions: int,
) -> PretrainedConfig:
    tokens = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if family == "xlnet":
        return XLNetConfig(
            **tokens,
            d_model=hidden_size,
            n_layer=num_layers,
            n_head=num_heads,
            d_inner=4 * hidden_size,
            mem_len=None,
        )
    encoder = {
        **tokens,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "intermediate_size": 4 * hidden_size,
        "max_position_embeddings": max_positions,
    }
    if family == "bert":
        return BertConfig(**encoder)
    if family == "roberta":
        # Position ids start after the pad id, so the table needs pad_token_id + 1 extra rows.
        encoder["max_position_embeddings"] = max_positions + tokenizer.pad_token_id + 1
        return RobertaConfig(**encoder, type_vocab_size=1)
    if family == "albert":
        return AlbertConfig(**encoder, embedding_size=hidden_size // 2)
    if family == "electra":
        return ElectraConfig(**encoder, embedding_size=hidden_size // 2)
    # DeBERTa-v3's settings.
    return DebertaV2Config(
        **encoder,
        relative_attention=True,
        position_biased_input=False,
        pos_att_type=["p2c", "c2p"],
        max_relative_positions=-1,
        position_buckets=256,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
    )


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
    config = _config(
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
