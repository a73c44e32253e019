"""Small encoders of seven families, decoders of three and one encoder-decoder, built from
scratch: each with its own trained tokenizer.

:func:`build_tokenizer` trains a tokenizer of the family's own kind on a corpus with the
`tokenizers` library and wraps it in the family's fast tokenizer class; :func:`model_config`
gives a small config of the family. Each
family keeps the conventions a study tool meets in real checkpoints:

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
  B </s>``, no token_type_ids, ``<pad>`` = 1 and position ids offset past it
  (``max_position_embeddings`` = max_positions + 2; the embeddings hard-code ``padding_idx=1``),
  plus T5-style relative position buckets (32, shared by all layers) added to every layer's
  scores. Its unknown token is ``[UNK]``; the ``<unk>`` at id 3 is unused, as in the real
  all-mpnet-base-v2 vocabulary.

Decoders (:data:`DECODER_FAMILIES`), causal attention, no [CLS]-like token; their classification
heads read the last real token:

* gpt2: byte-level BPE (``GPT2Tokenizer``), ``<|endoftext|>`` as bos, eos and unk, NO pad token
  and nothing added around a text or pair (``A B``); learned absolute positions.
* llama: BPE over Metaspace pieces with byte fallback (``LlamaTokenizer``, the class transformers
  5 builds from a Llama ``tokenizer.json``; no SentencePiece ``.model`` file), ``<unk>`` = 0,
  ``<s>`` = 1, ``</s>`` = 2 then the 256 ``<0xNN>`` byte pieces, as in the real vocabulary;
  ``<s>`` prepended (``<s> A <s> B`` for a pair), no pad token; rotary positions, RMSNorm, SwiGLU.
  Trained on word-split Metaspace pieces (the class itself does not split on spaces, but no
  learned merge crosses a "▁", so it tokenizes as trained).
* qwen2: byte-level BPE behind Qwen2's split regex (``Qwen2Tokenizer``), ``<|endoftext|>`` as
  eos, unk AND pad (as the real tokenizer: the config has no pad id), nothing added; rotary
  positions, grouped key/value heads (one key/value head) and biased q/k/v projections.

Encoder-decoders (:data:`ENCODER_DECODER_FAMILIES`), an encoder and a causal decoder that
attends to it; their heads read the decoder's states, fed the input shifted right by one:

* bart: byte-level BPE as RoBERTa's (``BartTokenizer``, an alias of ``RobertaTokenizer`` in
  transformers 5), ``<s> A </s></s> B </s>``, ``<pad>`` = 1 (BART offsets its learned positions by
  2 itself, so ``max_position_embeddings`` = max_positions); ``num_layers`` layers in each stack.
  Its classification head reads the decoder's state at the last ``</s>``, so every input of a
  batch must hold as many ``</s>`` as the others: the tokenizer adds one per text.

Special-token ids follow the real checkpoints for pad/unk/cls/sep (MPNet's ``[UNK]``, id 104 in
the real vocabulary, comes right after ``<unk>`` instead); ``[MASK]``/``<mask>`` comes right after
them instead of at the end of the vocabulary.

:data:`FAMILIES` are the six encoders the model zoo trains from scratch; MPNet joins the zoo only
as the pretrained all-mpnet-base-v2 (:data:`ctxvec.offline.training.PRETRAINED`), so it is in
:data:`ALL_FAMILIES`, every encoder family this module builds, which the tests' tiny checkpoints
cover. :data:`DECODER_FAMILIES` and :data:`ENCODER_DECODER_FAMILIES` are apart from both, so
tests over the encoders stay encoder tests; the zoo trains them from scratch too
(:data:`SCRATCH_FAMILIES`).

Deliberately left out: SentencePiece ``.model`` files and the slow tokenizers, byte fallback for
the Unigram tokenizers (unseen characters become the unknown token, as in the real ones), and
pretraining objectives (the zoo trains task heads directly).
"""

from __future__ import annotations

import functools
import json
import math
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    AlbertConfig,
    AlbertTokenizer,
    BartConfig,
    BartTokenizer,
    BertConfig,
    BertTokenizer,
    DebertaV2Config,
    DebertaV2Tokenizer,
    ElectraConfig,
    ElectraTokenizer,
    GPT2Config,
    GPT2Tokenizer,
    LlamaConfig,
    LlamaTokenizer,
    MPNetConfig,
    MPNetTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen2Tokenizer,
    RobertaConfig,
    RobertaTokenizer,
    XLNetConfig,
    XLNetTokenizer,
)

Family = Literal[
    "bert",
    "roberta",
    "albert",
    "electra",
    "deberta-v2",
    "xlnet",
    "mpnet",
    "gpt2",
    "llama",
    "qwen2",
    "bart",
]
# Encoders trained from scratch by the zoo.
FAMILIES: tuple[str, ...] = ("bert", "roberta", "albert", "electra", "deberta-v2", "xlnet")
# Every encoder family built here: MPNet is built only for tests (the zoo uses the pretrained one).
ALL_FAMILIES: tuple[str, ...] = (*FAMILIES, "mpnet")
# Decoder-only language models with task heads.
DECODER_FAMILIES: tuple[str, ...] = ("gpt2", "llama", "qwen2")
# An encoder and a decoder reading it, heads on the decoder.
ENCODER_DECODER_FAMILIES: tuple[str, ...] = ("bart",)
# What the zoo trains from scratch, in panel order: changing this changes its default panels.
SCRATCH_FAMILIES: tuple[str, ...] = (*FAMILIES, *DECODER_FAMILIES, *ENCODER_DECODER_FAMILIES)

_PRINTABLE = string.ascii_letters + string.digits + string.punctuation


@dataclass(frozen=True)
class _TokenizerSpec:
    cls: type[PreTrainedTokenizerBase]
    # "metaspace-bpe": BPE over "▁"-marked words with byte-fallback pieces (Llama).
    algorithm: Literal["wordpiece", "bpe", "unigram", "metaspace-bpe"]
    special_tokens: tuple[str, ...]  # in id order, at the start of the vocabulary
    options: tuple[tuple[str, object], ...] = ()  # passed to the class


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
    "mpnet": _TokenizerSpec(
        MPNetTokenizer, "wordpiece", ("<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>")
    ),
    "gpt2": _TokenizerSpec(GPT2Tokenizer, "bpe", ("<|endoftext|>",)),
    "llama": _TokenizerSpec(
        LlamaTokenizer,
        "metaspace-bpe",
        ("<unk>", "<s>", "</s>", *(f"<0x{byte:02X}>" for byte in range(256))),
        (("add_bos_token", True),),
    ),
    "qwen2": _TokenizerSpec(Qwen2Tokenizer, "bpe", ("<|endoftext|>", "<|im_start|>", "<|im_end|>")),
    "bart": _TokenizerSpec(BartTokenizer, "bpe", ("<s>", "<pad>", "</s>", "<unk>", "<mask>")),
}


def _spec(family: str) -> _TokenizerSpec:
    if family not in _TOKENIZER_SPECS:
        known = (*ALL_FAMILIES, *DECODER_FAMILIES, *ENCODER_DECODER_FAMILIES)
        raise ValueError(f"unknown family {family!r}; expected one of {known}")
    return _TOKENIZER_SPECS[family]


@functools.lru_cache(maxsize=16)
def _trained_model_json(family: str, corpus: tuple[str, ...], vocab_size: int) -> str:
    """The family's tokenizer model trained on ``corpus``, as `tokenizers` JSON (cached)."""
    spec = _spec(family)
    # The class rebuilds its normalizer and pre-tokenizer on every load, so train with the ones
    # a default instance has: then the saved vocabulary tokenizes exactly as it was trained.
    default = spec.cls()
    pipeline = default.backend_tokenizer
    special_tokens = list(spec.special_tokens)
    if spec.algorithm == "bpe":
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    elif spec.algorithm == "metaspace-bpe":
        # No normalizer; characters outside the pieces fall back to the <0xNN> byte pieces.
        alphabet = sorted(set(_PRINTABLE) | {"▁"})
    else:
        # Every printable character (and the metaspace) so that unseen words rarely become unknown.
        alphabet = sorted(set(pipeline.normalizer.normalize_str(_PRINTABLE)) | {"▁"})
    if spec.algorithm == "wordpiece":
        # The class's own unknown token: MPNet's vocabulary also holds an unused "<unk>".
        unk = str(default.unk_token)
        # The trainer numbers "##x" pieces in hash-map order, which breaks ties between merges
        # differently on every run; listing them up front pins their ids.
        special_tokens += [f"##{char}" for char in alphabet if char != "▁"]
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        trainer: trainers.Trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            special_tokens=special_tokens,
            initial_alphabet=alphabet,
            show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=special_tokens,
            initial_alphabet=alphabet,
            show_progress=False,
        )
    if pipeline.normalizer is not None:
        tokenizer.normalizer = pipeline.normalizer
    tokenizer.pre_tokenizer = pipeline.pre_tokenizer
    if spec.algorithm == "metaspace-bpe":
        # Learn word pieces ("▁word"): no merge then joins a word to the next one's "▁".
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first", split=True)
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    if spec.algorithm == "unigram":
        return json.dumps({"vocab": _unigram_pieces(tokenizer, corpus, spec.special_tokens)})
    return json.dumps(json.loads(tokenizer.to_str())["model"])


def _unigram_pieces(
    bpe: Tokenizer, corpus: Sequence[str], special_tokens: tuple[str, ...]
) -> list[tuple[str, float]]:
    """SentencePiece-style (piece, log-probability) list from a BPE tokenizer trained on corpus.

    `tokenizers`' UnigramTrainer is not reproducible (its EM sums over hash maps, so scores and
    piece order change from run to run); the BPE trainer is, so it picks the pieces and their
    frequency in the BPE-encoded corpus (add-one smoothed) gives the unigram scores.
    """
    counts = Counter(
        token for encoding in bpe.encode_batch(list(corpus)) for token in encoding.tokens
    )
    pieces = [piece for piece in bpe.get_vocab() if piece not in special_tokens]
    total = sum(counts[piece] + 1 for piece in pieces)
    scored = [(piece, math.log((counts[piece] + 1) / total)) for piece in pieces]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return [(token, 0.0) for token in special_tokens] + scored


def build_tokenizer(
    family: str, corpus: Sequence[str], vocab_size: int, model_max_length: int = 512
) -> PreTrainedTokenizerBase:
    """A tokenizer of the family's own class, trained on ``corpus`` (deterministic)."""
    spec = _spec(family)
    model = json.loads(_trained_model_json(family, tuple(corpus), vocab_size))
    if spec.algorithm == "unigram":
        vocab = [(piece, score) for piece, score in model["vocab"]]
        return spec.cls(vocab=vocab, model_max_length=model_max_length)
    options = dict(spec.options)
    if spec.algorithm in ("bpe", "metaspace-bpe"):
        merges = [tuple(merge) for merge in model["merges"]]
        return spec.cls(
            vocab=model["vocab"], merges=merges, model_max_length=model_max_length, **options
        )
    return spec.cls(vocab=model["vocab"], model_max_length=model_max_length, **options)


def model_config(
    family: str,
    tokenizer: PreTrainedTokenizerBase,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    max_positions: int,
) -> PretrainedConfig:
    """A randomly initialisable config of ``family`` sized as asked, matching ``tokenizer``.

    A decoder config's pad id is the tokenizer's (None for gpt2 and llama); qwen2's is None too,
    as in the real checkpoints, although its tokenizer pads with ``<|endoftext|>``.
    """
    _spec(family)
    tokens = {
        "vocab_size": len(tokenizer),
        "pad_token_id": None if family == "qwen2" else tokenizer.pad_token_id,
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
    if family == "bart":
        return BartConfig(
            **tokens,
            d_model=hidden_size,
            encoder_layers=num_layers,
            decoder_layers=num_layers,
            encoder_attention_heads=num_heads,
            decoder_attention_heads=num_heads,
            encoder_ffn_dim=4 * hidden_size,
            decoder_ffn_dim=4 * hidden_size,
            max_position_embeddings=max_positions,
            # BART's own: the decoder starts from </s>, and generation would end on it.
            decoder_start_token_id=tokenizer.eos_token_id,
            forced_eos_token_id=tokenizer.eos_token_id,
        )
    if family == "gpt2":
        return GPT2Config(
            **tokens,
            n_embd=hidden_size,
            n_layer=num_layers,
            n_head=num_heads,
            n_positions=max_positions,
        )
    sizes = {
        **tokens,
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "intermediate_size": 4 * hidden_size,
        "max_position_embeddings": max_positions,
    }
    if family in DECODER_FAMILIES:
        decoder = {**sizes, "intermediate_size": 3 * hidden_size, "tie_word_embeddings": False}
        if family == "llama":
            return LlamaConfig(**decoder, num_key_value_heads=num_heads)
        return Qwen2Config(**decoder, num_key_value_heads=1)
    if family == "bert":
        return BertConfig(**sizes)
    if family == "roberta":
        # Position ids start after the pad id, so the table needs pad_token_id + 1 extra rows.
        sizes["max_position_embeddings"] = max_positions + tokenizer.pad_token_id + 1
        return RobertaConfig(**sizes, type_vocab_size=1)
    if family == "albert":
        return AlbertConfig(**sizes, embedding_size=hidden_size // 2)
    if family == "electra":
        return ElectraConfig(**sizes, embedding_size=hidden_size // 2)
    if family == "mpnet":
        # MPNetEmbeddings numbers positions from padding_idx + 1 with padding_idx fixed at 1,
        # whatever the config says; 32 buckets is also what MPNetEncoder hard-codes.
        if tokenizer.pad_token_id != 1:
            raise ValueError(f"MPNet needs <pad> = 1, the tokenizer has {tokenizer.pad_token_id}")
        sizes["max_position_embeddings"] = max_positions + 2
        return MPNetConfig(**sizes, relative_attention_num_buckets=32, layer_norm_eps=1e-5)
    # DeBERTa-v3's settings.
    return DebertaV2Config(
        **sizes,
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
