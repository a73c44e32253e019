"""Load a resolved checkpoint with the head of a task (tokenizer and model, device, dtype).

A checkpoint whose task head is missing or freshly initialised is refused unless the caller
passes ``allow_untrained_head=True`` (the baseline silently ran sentiment classifiers through a
QA head); one whose body did not load at all (none of its weights under the prefix the class
expects) is refused even then. The freshly initialised weights are listed on the loaded model
(:attr:`LoadedModel.initialised`). An architecture ctxvec cannot measure is refused before any
weight loads (:mod:`ctxvec.loading.support`). This module also decides the inputs a model gets
(``token_type_ids`` only where both tokenizer and model take them) and the padding side (right,
except for models that summarise a sequence from its last position, such as XLNet). It does not
tokenise data or run inference. transformers is imported on the first load only.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch

from ctxvec.errors import CtxvecError, first_line
from ctxvec.loading.decoders import (
    SummaryPosition,
    is_decoder_only,
    pad_token_fallback,
    summary_position,
)
from ctxvec.loading.media import MediaLayout, Modality, media_layout, media_refusal
from ctxvec.loading.names import DeviceName, DTypeName, ResolvedModel
from ctxvec.loading.support import head_class_name, refusal_line, tokenizer_refusal

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# RoBERTa-style embeddings number positions from padding_idx + 1, so the table holds that many
# more rows than tokens fit (MPNet too: its 514 positions take 512 tokens; a 513th would index
# past the table).
_PADDING_OFFSET_TYPES = frozenset({"roberta", "xlm-roberta", "camembert", "longformer", "mpnet"})


@dataclass(frozen=True)
class Head:
    """The task head a model is loaded with: a transformers auto class (by name, so that this
    module imports transformers only when it loads) and how a message names the head."""

    auto_class: str  # e.g. "AutoModelForQuestionAnswering"
    words: str  # e.g. "question-answering"
    # What the model reads: "text" (a tokenizer), "vision" (images, an image processor) or
    # "sound" (audio, a feature extractor).
    modality: Modality = "text"

    @property
    def class_suffix(self) -> str:
        """What the concrete classes' names end with (``ForQuestionAnswering``)."""
        return self.auto_class.removeprefix("AutoModel")


@dataclass
class LoadedModel:
    resolved: ResolvedModel
    model: torch.nn.Module
    # The text models' tokenizer; None for image and audio models (see ``processor``).
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    # Tokenizer outputs passed to forward (e.g. no token_type_ids for RoBERTa).
    input_names: tuple[str, ...]
    padding_side: Literal["left", "right"]
    # Longest input the model takes, or None for models without absolute positions.
    max_positions: int | None
    # The token the classification head reads, the example's summary vector
    # (:func:`ctxvec.loading.decoders.summary_position`): first (encoders), last (XLNet) or the
    # last real one not equal to the pad id (decoders).
    summary_position: SummaryPosition = "first"
    # How a tokenizer without a pad token (or a decoder config without a pad id) got one
    # (:func:`ctxvec.loading.decoders.pad_token_fallback`); None: nothing was needed.
    pad_fallback: str | None = None
    # Left padding shifts default absolute position ids; such models get them from the mask.
    positions_from_mask: bool = False
    # The task head it was loaded with.
    head: Head | None = None
    # The weights the checkpoint did not hold (or held in another shape), sorted: freshly
    # initialised (seeded), so allowed only with ``allow_untrained_head``.
    initialised: tuple[str, ...] = ()
    # Decoder-only (:func:`ctxvec.loading.decoders.is_decoder_only`): query i attends to keys
    # 0..i only, which the per-head attention statistics take into account.
    causal: bool = False
    # Image and audio models: their image processor or feature extractor, and how their
    # tokens are read (:mod:`ctxvec.loading.media`); None for text models.
    processor: object | None = None
    media: MediaLayout | None = None


def resolve_device(device: DeviceName = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise CtxvecError(
            f"unknown device '{device}'; use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CtxvecError("device 'cuda' was asked for but no CUDA GPU is available; use cpu")
    return dev


def resolve_dtype(dtype: DTypeName, device: torch.device) -> torch.dtype:
    """``auto`` means bfloat16 on a GPU that supports it, float32 elsewhere."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise CtxvecError(f"unknown dtype '{dtype}'; use auto, float32, bfloat16 or float16")
    return DTYPES[dtype]


def load_model(
    resolved: ResolvedModel,
    head: Head,
    device: DeviceName = "auto",
    dtype: DTypeName = "auto",
    allow_untrained_head: bool = False,
    eager: bool = False,
) -> LoadedModel:
    """Load tokenizer and model with a task's ``head``, in eval mode on ``device``; with
    ``eager``, built on the eager attention path (a few image models, such as Data2Vec-Vision,
    cannot switch to it once built).

    Raises:
        CtxvecError: the checkpoint cannot be loaded, is of an architecture ctxvec refuses
            (:mod:`ctxvec.loading.support`), has no head class for the task, or its head is
            missing from the checkpoint (unless ``allow_untrained_head``).
    """
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    auto_class = getattr(transformers, head.auto_class)
    task_words = head.words
    name = resolved.spec.label
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    try:
        # Refuse an architecture ctxvec cannot measure before any weight loads (one line).
        config = transformers.AutoConfig.from_pretrained(resolved.path)
        if head.modality != "text" and (why := media_refusal(config)) is not None:
            kind = f"{config.model_type} ({head_class_name(config, head.auto_class)})"
            raise CtxvecError(f"model '{name}' is a {kind}: {why.line()}")
        if (refused := refusal_line(name, config, head.auto_class)) is not None:
            raise CtxvecError(refused)
        tokenizer, processor = None, None
        if head.modality == "text":
            tokenizer = transformers.AutoTokenizer.from_pretrained(resolved.path)
            if (refused := tokenizer_refusal(tokenizer, head.auto_class)) is not None:
                raise CtxvecError(f"model '{name}': {refused}")
        else:
            processor = _preprocessor(transformers, resolved.path, head.modality, name)
        # A fixed seed makes an allowed untrained head the same on every run.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model, info = auto_class.from_pretrained(
                resolved.path,
                output_loading_info=True,
                dtype=torch_dtype,
                **({"attn_implementation": "eager"} if eager else {}),
            )
    except ValueError as e:
        if "Unrecognized configuration class" in str(e):
            raise CtxvecError(
                f"model '{name}' has no {task_words} head class in transformers; "
                "pick a checkpoint of an encoder family that has one"
            ) from None
        raise CtxvecError(f"cannot load model '{name}': {first_line(e)}") from None
    except OSError as e:
        raise CtxvecError(f"cannot load model '{name}': {first_line(e)}") from None

    initialised = _check_initialised(model, info, name, task_words, allow_untrained_head)

    model.to(dev).eval()
    forward_params = inspect.signature(model.forward).parameters
    if processor is not None:
        return _media_model(
            resolved, model, processor, head, dev, torch_dtype, initialised, forward_params
        )
    input_names = tuple(n for n in tokenizer.model_input_names if n in forward_params)
    # A head that reads the last position (XLNet's "last") needs left padding; every other
    # model gets right padding, so absolute position ids of real tokens never shift and a
    # decoder's real tokens (causal) never see padding. Decoder heads find the last real token
    # by the pad id, which they get here if they have none.
    summary = summary_position(model.config)
    pad_fallback = pad_token_fallback(
        tokenizer, model.config, head_reads_pad_id=summary == "last-non-pad", name=name
    )
    padding_side = "left" if summary == "last" else "right"
    # RoBERTa-like embeddings (a ``padding_idx``) already derive positions from the input ids.
    embeddings = getattr(model.base_model, "embeddings", None)
    positions_from_mask = "position_ids" in forward_params and not hasattr(
        embeddings, "padding_idx"
    )
    return LoadedModel(
        resolved=resolved,
        model=model,
        tokenizer=tokenizer,
        device=dev,
        dtype=torch_dtype,
        input_names=input_names,
        padding_side=padding_side,
        max_positions=_max_positions(model.config),
        summary_position=summary,
        pad_fallback=pad_fallback,
        positions_from_mask=positions_from_mask,
        head=head,
        initialised=initialised,
        causal=is_decoder_only(model.config),
    )


def _preprocessor(transformers: Any, path: Any, modality: Modality, name: str) -> Any:
    """The checkpoint's own image processor or feature extractor; a checkpoint without one is
    one line."""
    if modality == "vision":
        auto, what = transformers.AutoImageProcessor, "image processor"
    else:
        auto, what = transformers.AutoFeatureExtractor, "feature extractor"
    try:
        return auto.from_pretrained(path)
    except (OSError, ValueError, KeyError) as e:
        raise CtxvecError(
            f"model '{name}' has no {what} ({first_line(e)}); save the one it was trained with "
            "beside its weights (save_pretrained)"
        ) from None


def _media_model(
    resolved: ResolvedModel,
    model: torch.nn.Module,
    processor: Any,
    head: Head,
    dev: torch.device,
    dtype: torch.dtype,
    initialised: tuple[str, ...],
    forward_params: Mapping[str, Any],
) -> LoadedModel:
    """An image or audio classifier as a :class:`LoadedModel`: its inputs are the processor's
    arrays (an attention mask only where both the feature extractor makes one and the model
    takes it, ``forward_params``), never padded on the left."""
    names = getattr(processor, "model_input_names", None) or ["pixel_values"]
    if not getattr(processor, "return_attention_mask", False):
        names = [n for n in names if n != "attention_mask"]
    return LoadedModel(
        resolved=resolved,
        model=model,
        tokenizer=None,
        device=dev,
        dtype=dtype,
        input_names=tuple(n for n in names if n in forward_params),
        padding_side="right",
        max_positions=None,
        head=head,
        initialised=initialised,
        processor=processor,
        media=media_layout(model, processor, head.modality),
    )


def _check_initialised(
    model: torch.nn.Module, info: dict, name: str, task_words: str, allow: bool
) -> tuple[str, ...]:
    """The weights ``from_pretrained`` initialised afresh (``info``: its loading info), sorted;
    refused unless ``allow``, and refused even then when none of the body's weights loaded.

    The body is the model's base model (``model.base_model``, e.g. ``bert.`` or
    ``transformer.``); the head is every weight outside it (``qa_outputs.``, ``classifier.``,
    DeBERTa's ``pooler.``). A body missing only some weights (a pooler that a QA checkpoint never
    had) is allowed with the head; a body missing all of them is a checkpoint saved under another
    prefix than this class expects (a ``LlamaForCausalLM``'s ``model.`` where
    ``LlamaForQuestionAnswering`` reads ``transformer.``), and its run would be all noise.
    Buffers (position ids) are no weights: they are left out.
    """
    weights = [n for n, _ in model.named_parameters(remove_duplicate=False)]
    missing = {str(k) for k in info.get("missing_keys", ())}
    # transformers 5 reports (name, checkpoint shape, model shape); older versions a name.
    missing |= {k if isinstance(k, str) else str(k[0]) for k in info.get("mismatched_keys", ())}
    fresh = tuple(sorted(n for n in set(weights) if n in missing))
    if not fresh:
        return ()
    base = model.base_model
    prefix = next((n for n, m in model.named_modules() if m is base and n), "")
    body = [n for n in weights if n.startswith(f"{prefix}.")] if prefix else weights
    body_fresh = [n for n in fresh if n in set(body)]
    if body and len(body_fresh) == len(body):
        where = f"under '{prefix}.'" if prefix else "without a prefix"
        raise CtxvecError(
            f"model '{name}': none of its body's {len(body)} weights were found in the "
            f"checkpoint (its body is expected {where} by {type(model).__name__}); "
            "--allow-untrained-head cannot help: use a checkpoint fine-tuned for the task, or "
            f"save its body as a {type(base).__name__} (save_pretrained) and use that"
        )
    if not allow:
        what = ", ".join(fresh[:4]) + (", ..." if len(fresh) > 4 else "")
        whose = f"trained {task_words} head" if len(body_fresh) < len(fresh) else "complete body"
        raise CtxvecError(
            f"model '{name}' has no {whose} ({len(fresh)} weights freshly initialised: {what}); "
            "use a checkpoint fine-tuned for the task, or pass --allow-untrained-head"
        )
    return fresh


def _max_positions(config: object) -> int | None:
    limit = getattr(config, "max_position_embeddings", None)
    if limit is None or limit <= 0:  # XLNet reports -1: relative positions, no limit
        return None
    if getattr(config, "model_type", "") in _PADDING_OFFSET_TYPES:
        limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
    return int(limit)
