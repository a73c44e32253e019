"""Every architecture of the installed transformers' question-answering and sequence-
classification mappings either runs or is refused up front in one line
(:mod:`ctxvec.loading.support`), never with a traceback.

The fast tests read each architecture's config (tiny sizes where the config takes them) and
check the refusal rules; the slow one builds a tiny random model of every architecture that is
neither refused nor one of ctxvec's tested families, saves it with a generic tokenizer (the tiny
BERT one, the tiny GPT-2 one for decoder-only models), loads it as a study does and runs the
forward pass padded and one example at a time: it must finish with finite metrics that padding
does not change, or stop with a :class:`CtxvecError`. Its findings are in ``docs/study.md``
("Architectures").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from sample_data import TEXTS
from tiny_models import DECODER_FAMILIES, FAMILIES, build_tokenizer
from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto import modeling_auto

from ctxvec.errors import CtxvecError
from ctxvec.inference import forward
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.loading.decoders import is_decoder_only
from ctxvec.loading.support import (
    ENCODER_DECODER,
    REFUSED,
    refusal,
    refusal_line,
    tokenizer_refusal,
)
from ctxvec.tasks import get_task

QA = modeling_auto.MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES
CLS = modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
ALL_TYPES = sorted(set(QA) | set(CLS))
TESTED = frozenset({*FAMILIES, *DECODER_FAMILIES})
# What the issue saw fail, each refused by a rule of its own.
ISSUE_ENCODER_DECODERS = ("bart", "mbart", "mvp", "plbart", "t5", "mt5", "umt5", "led")
ISSUE_REFUSED = (
    *ISSUE_ENCODER_DECODERS,
    "bigbird_pegasus",
    "t5gemma",
    "funnel",
    "canine",
    "reformer",
    "fnet",
    "yoso",
    "nystromformer",
    "convbert",
    "xmod",
)

# Tiny sizes for the fields a config has (by its own name for them); the rest keep defaults.
VOCAB = 640
_TINY = {
    "num_hidden_layers": 2,
    "n_layer": 2,
    "n_layers": 2,
    "num_layers": 2,
    "hidden_size": 32,
    "d_model": 32,
    "n_embd": 32,
    "dim": 32,
    "embedding_size": 32,
    "num_attention_heads": 2,
    "n_head": 2,
    "n_heads": 2,
    "num_heads": 2,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 64,
    "d_ff": 64,
    "d_inner": 64,
    "n_inner": 64,
    "ffn_dim": 64,
    "hidden_dim": 64,
    "max_position_embeddings": 128,
    "n_positions": 128,
    "n_ctx": 128,
    "vocab_size": VOCAB,
    # Mixtures of experts and low-rank attention (DeepSeek).
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "num_experts": 4,
    "num_local_experts": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_group": 1,
    "topk_group": 1,
    "kv_lora_rank": 16,
    "q_lora_rank": 16,
    "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 8,
    "v_head_dim": 16,
    # XLM and FlauBERT; LUKE's entities; RoCBert's pronunciation and shape embeddings.
    "emb_dim": 32,
    "entity_vocab_size": 16,
    "entity_emb_size": 16,
    "pronunciation_embed_dim": 16,
    "shape_embed_dim": 16,
    # Jamba: its second layer attends (the first is a Mamba layer).
    "attn_layer_period": 2,
    "attn_layer_offset": 1,
    # GPT-Neo: one global and one local layer; GPT-J's rotary share of a head.
    "attention_types": [[["global", "local"], 1]],
    "rotary_dim": 8,
    # LayoutLM v2/v3: 4 coordinate and 2 shape embeddings make up the hidden size.
    "coordinate_size": 6,
    "shape_size": 4,
}
# Where the sizes above do not fit: LiLT's layout stream needs a hidden size divisible by 6
# and by 4 times its heads; Mistral 4's heads are rotary and not; Zamba shares its attention
# block between at least two hybrid layers; Cohere Compass's default config has no rotary
# parameters for its layers.
_ROPE = {"rope_type": "default", "rope_theta": 1e4, "mrope_section": [4, 2, 2]}
_TINY_FOR = {
    "cohere_compass_text": {"rope_parameters": {"full_attention": _ROPE}},
    "lilt": {"hidden_size": 48},
    "mistral4": {"head_dim": 16, "qk_head_dim": 16},
    "zamba": {
        "num_hidden_layers": 3,
        "layers_block_type": ["linear_attention", "hybrid", "hybrid"],
    },
}
# Parameters above which a "tiny" model is not built (a config that ignored the sizes).
MAX_PARAMETERS = 3_000_000


def tiny_config(model_type: str, token_ids: dict[str, int | None] | None = None):
    """The model type's config with tiny sizes where it takes them (else its defaults), and
    whether the sizes took; ``token_ids`` (pad, bos, ...) are set where the config has them."""
    default = AutoConfig.for_model(model_type)
    token_ids = token_ids or {}

    def sized(config: PretrainedConfig) -> dict:
        fields = config.to_dict()
        tiny = {k: v for k, v in _TINY.items() if k in fields}
        tiny.update({k: v for k, v in token_ids.items() if k in fields})
        if "qk_rope_head_dim" in fields and "head_dim" in fields:  # DeepSeek: rotary head
            tiny["head_dim"] = _TINY["qk_rope_head_dim"]
        for name in ("layer_types", "layers_block_type"):  # one type per layer, two layers:
            types = fields.get(name)  # the first type and another one where there is one
            if isinstance(types, list) and types:
                tiny[name] = [types[0], next((t for t in types if t != types[0]), types[0])]
        tiny.update(_TINY_FOR.get(config.model_type, {}))
        for sub in ("text_config", "vision_config"):
            if isinstance(getattr(config, sub, None), PretrainedConfig):
                tiny[sub] = {**getattr(config, sub).to_dict(), **sized(getattr(config, sub))}
        return tiny

    try:
        return AutoConfig.for_model(model_type, **sized(default)), True
    except Exception:  # a config that checks its sizes against others: keep its defaults
        return default, False


def head_of(model_type: str) -> str:
    """The auto class a study loads ``model_type`` with: sequence classification where it has
    that head (every type but a few), else question answering."""
    task = "cls" if model_type in CLS else "qa"
    return get_task(task).head.auto_class


def test_the_mappings_are_the_ones_enumerated() -> None:
    assert len(ALL_TYPES) > 50
    assert set(ALL_TYPES) >= TESTED


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_every_architecture_is_supported_or_refused_in_one_line(model_type: str) -> None:
    config, _ = tiny_config(model_type)
    why = refusal(config)
    assert why == refusal(AutoConfig.for_model(model_type))  # sizes change no rule
    if model_type in TESTED:
        assert why is None
    if model_type in ISSUE_REFUSED:
        assert why is not None
    if why is not None:
        assert "\n" not in why and "; " in why
        line = refusal_line("some/model", config, head_of(model_type))
        assert line is not None and "\n" not in line
        assert line.startswith(f"model 'some/model' is a {model_type} (")


@pytest.mark.parametrize("model_type", ISSUE_ENCODER_DECODERS)
def test_encoder_decoders_are_refused_by_rule_not_by_name(model_type: str) -> None:
    assert model_type not in REFUSED
    assert refusal(AutoConfig.for_model(model_type)) == ENCODER_DECODER.line()


def test_xmod_runs_once_its_config_names_a_language() -> None:
    config = AutoConfig.for_model("xmod")
    assert "default_language" in refusal(config)
    config.default_language = config.languages[0]
    assert refusal(config) is None


def test_the_refusal_line_names_model_architecture_reason_and_remedy() -> None:
    config = AutoConfig.for_model("bart")
    line = refusal_line("facebook/bart-base", config, "AutoModelForQuestionAnswering")
    assert line == (
        "model 'facebook/bart-base' is a bart (BartForQuestionAnswering): an encoder-decoder: "
        "ctxvec measures one stack of self-attention layers and does not yet choose between "
        "encoder and decoder; use an encoder-only or decoder-only checkpoint"
    )


@pytest.mark.parametrize(("model_type", "task"), [("t5", "qa"), ("funnel", "cls")])
def test_load_model_refuses_before_any_weight_or_tokenizer_loads(
    tmp_path, model_type: str, task: str
) -> None:
    """A folder with nothing but the config: the refusal comes before anything else is read."""
    AutoConfig.for_model(model_type).save_pretrained(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    spec = ModelSpec(str(tmp_path))
    with pytest.raises(CtxvecError) as e:
        load_model(resolve_model(spec), get_task(task).head, "cpu")
    message = str(e.value)
    assert message.startswith(f"model '{spec.label}' is a {model_type} (")
    assert message.endswith(refusal(AutoConfig.for_model(model_type)))


def test_question_answering_refuses_a_python_tokenizer_before_any_weight(tmp_path) -> None:
    """A Python tokenizer (here ESM's) gives no offset mapping, by which QA cuts answers."""
    (tmp_path / "vocab.txt").write_text("\n".join(["<cls>", "<pad>", "<eos>", "<unk>", "A", "C"]))
    transformers.EsmTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    AutoConfig.for_model("bert").save_pretrained(tmp_path)  # no weights: never read
    spec = ModelSpec(str(tmp_path))
    with pytest.raises(CtxvecError) as e:
        load_model(resolve_model(spec), get_task("qa").head, "cpu")
    assert str(e.value) == (
        f"model '{spec.label}': its tokenizer (EsmTokenizer) is a Python one without the offset "
        "mapping that question answering cuts answers by; use a checkpoint with a fast "
        "tokenizer (tokenizer.json)"
    )
    fast = build_tokenizer("bert")
    assert fast.is_fast and tokenizer_refusal(fast, get_task("qa").head.auto_class) is None
    slow = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer_refusal(slow, get_task("cls").head.auto_class) is None  # no offsets needed


# ------------------------------------------------------------- every other architecture runs


def _tried() -> list[str]:
    """The types neither tested nor refused (read at collection, so without config warnings)."""
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        untested = [t for t in ALL_TYPES if t not in TESTED]
        return [t for t in untested if refusal(AutoConfig.for_model(t)) is None]
    finally:
        transformers.logging.set_verbosity(verbosity)


TRIED = _tried()
# Padded batches must give what one example at a time gives (test_forward's bound for padding).
PADDING_ATOL = 1e-5


def build(model_type: str, task: str, directory, **settings) -> str | None:
    """Save a tiny random ``task`` model of ``model_type`` (config ``settings`` on top) with a
    generic tokenizer into ``directory``; None when done, else why it was not built."""
    family = "gpt2" if is_decoder_only(AutoConfig.for_model(model_type)) else "bert"
    tokenizer = build_tokenizer(family)
    tokenizer.model_max_length = 96
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "sep_token_id": tokenizer.sep_token_id,
        "cls_token_id": tokenizer.cls_token_id,
    }
    # A tokenizer without a pad token (GPT-2's) leaves the config none either, as in GPT-2,
    # unless the config insists on one: then its eos. Other ids it lacks keep their defaults.
    ids = {k: v for k, v in ids.items() if v is not None or k == "pad_token_id"}
    config, tiny = tiny_config(model_type, ids)
    if not tiny and ids["pad_token_id"] is None:
        config, tiny = tiny_config(model_type, {**ids, "pad_token_id": ids["eos_token_id"]})
    if not tiny:
        return "its config does not take tiny sizes"
    for name, value in settings.items():
        setattr(config, name, value)
    auto = getattr(transformers, get_task(task).head.auto_class)
    try:
        with torch.device("meta"):
            n = sum(p.numel() for p in auto.from_config(config).parameters())
    except Exception as e:  # the config transformers makes does not build its own model
        return f"transformers does not build it from its config ({type(e).__name__}: {e})"
    if n > MAX_PARAMETERS:
        return f"its tiny config still has {n:,} parameters"
    torch.manual_seed(0)
    auto.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("model_type", TRIED)
def test_every_other_architecture_runs_or_stops_with_one_line(
    tmp_path, monkeypatch, model_type: str
) -> None:
    runs_or_stops_with_one_line(model_type, tmp_path, monkeypatch)


@pytest.mark.slow
def test_xmod_with_a_language_runs(tmp_path, monkeypatch) -> None:
    runs_or_stops_with_one_line("xmod", tmp_path, monkeypatch, default_language="en_XX")


def runs_or_stops_with_one_line(model_type: str, tmp_path, monkeypatch, **settings) -> None:
    """A tiny ``model_type`` (config ``settings`` on top) finishes padded as one at a time, or
    stops with a one-line CtxvecError."""
    task = "cls" if model_type in CLS else "qa"
    skipped = build(model_type, task, tmp_path, **settings)
    if skipped:
        pytest.skip(f"{model_type}: {skipped}")
    # Pad freely (as on a GPU), so that a padding leak shows.
    monkeypatch.setattr(forward, "MAX_PADDING", 1.0)
    try:
        lm = load_model(
            resolve_model(ModelSpec(str(tmp_path))), get_task(task).head, "cpu", "float32", True
        )
        enc = lm.tokenizer(TEXTS[:6], return_special_tokens_mask=True, truncation=True)
        names = [n for n in lm.input_names if n != "attention_mask"] + ["special_tokens_mask"]
        features = [{n: enc[n][i] for n in names} for i in range(len(enc["input_ids"]))]
        assert len({len(f["input_ids"]) for f in features}) > 1  # the batch of 6 is padded
        keep = get_task(task).keep
        padded = forward.run_forward(lm, features, keep, forward.PassSettings(6), progress=False)
        alone = forward.run_forward(lm, features, keep, forward.PassSettings(1), progress=False)
    except CtxvecError as e:
        print(f"{model_type}: refused: {e}")
        assert "\n" not in str(e)
        return
    for name in ("variance", "cse"):
        assert np.isfinite(alone.metrics[name]).all(), name
        leak = float(np.abs(padded.metrics[name] - alone.metrics[name]).max())
        print(f"{model_type}: ran; {name} padded vs alone: {leak:.1e}")
        assert leak <= PADDING_ATOL, f"padding changes {name} by {leak:.1e}"
    for name in keep.per_feature:  # the head's outputs too (QA's are cut per feature)
        assert np.isfinite(padded.outputs[name]).all(), name
