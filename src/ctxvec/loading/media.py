"""Image and audio models: which of their tokens count, what their heads pool, what is refused.

transformers gives an image or audio classifier's context vectors the shape a text encoder's
have: hidden states ``[batch, n_tokens, hidden]``, one per layer. What differs is decided here,
once per model at load time, into a :class:`MediaLayout`:

* **special tokens**: the leading tokens that are not patches or frames ([CLS]; DeiT's
  distillation token; DINOv2's registers; AST's two), :data:`LEADING_SPECIAL`; the patches
  follow in row-major order of the patch grid;
* **real tokens**: every token of an image; an audio model with a convolutional feature
  encoder (Wav2Vec2, HuBERT, WavLM, ...) or Whisper's encoder turns the real input length into
  its real frame count with its own ``_get_feat_extract_output_lengths``, so frames of padding
  never count; AST's patches all count (its feature extractor pads every input to
  ``max_length`` frames);
* **the summary vector** (what the classification head reads): the first token (ViT, DeiT,
  DINOv2, ViT-MSN), the mean of the patch tokens (BEiT, Data2Vec-Vision), the mean of the two
  special tokens (AST), or the mean of all real tokens (Swin, I-JEPA, the audio encoders);
* **what refuses**: a convolutional or pooling network has no self-attention, a model whose
  hidden states are feature maps or whose token order changes between stages cannot be lined
  up with patches, and a few need packages ctxvec does not install (:data:`MEDIA_REFUSED`).

Left out: the preprocessing itself (each model's own image processor or feature extractor,
called by the tasks) and the windows of long audio (:mod:`ctxvec.tasks.audio`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ctxvec.loading.support import CHANGES_LENGTH, Refusal

Modality = Literal["text", "vision", "sound"]
# What the head reads: the first token, the mean of the patch tokens (after the leading
# special ones), the mean of the leading special tokens, or the mean of every real token.
MediaSummary = Literal["first", "patch-mean", "special-mean", "mean"]

# Leading special tokens by model type (the rest: none). DINOv2 with registers adds its
# ``num_register_tokens`` after [CLS].
LEADING_SPECIAL = {
    "vit": 1,
    "vit_msn": 1,
    "deit": 2,
    "beit": 1,
    "data2vec-vision": 1,
    "dinov2": 1,
    "dinov2_with_registers": 1,
    "audio-spectrogram-transformer": 2,
}
SUMMARY: dict[str, MediaSummary] = {
    "vit": "first",
    "vit_msn": "first",
    "deit": "first",
    "dinov2": "first",  # [CLS] beside the mean of the patches: its first half reads [CLS]
    "dinov2_with_registers": "first",
    "beit": "patch-mean",
    "data2vec-vision": "patch-mean",
    "audio-spectrogram-transformer": "special-mean",
}

NO_ATTENTION = Refusal(
    "it has no self-attention (a convolutional, pooling or modulation network), so it has no "
    "context vectors in ctxvec's sense",
    "use a transformer of the family (ViT, DeiT, BEiT, DINOv2, Swin)",
)
FEATURE_MAPS = Refusal(
    "its hidden states are feature maps or tokens reordered between stages, which ctxvec "
    "cannot line up with the image's patches",
    "use a ViT-like or Swin-like transformer",
)
NEEDS_PACKAGE = Refusal(
    "it needs a package ctxvec does not install (timm or natten)",
    "use a transformers-native ViT-like or Swin-like model",
)
COMPOSITE = Refusal(
    "a composite model whose vision tower sits in a sub-config, or whose input is not pixels",
    "use a single-stack image classifier (ViT, DeiT, BEiT, DINOv2, Swin)",
)
NOT_SELF_ATTENTION = Refusal(
    "its mixing is neither full nor windowed self-attention over one token sequence (spatial-"
    "reduction, convolutional or neighbourhood attention)",
    "use a ViT-like or Swin-like transformer",
)

# Refused by name (``config.model_type``).
MEDIA_REFUSED: dict[str, Refusal] = {
    **dict.fromkeys(
        (
            "bit",
            "convnext",
            "convnextv2",
            "efficientnet",
            "focalnet",
            "hgnet_v2",
            "mobilenet_v1",
            "mobilenet_v2",
            "poolformer",
            "pp_lcnet",
            "regnet",
            "resnet",
            "swiftformer",
            "textnet",
        ),
        NO_ATTENTION,
    ),
    **dict.fromkeys(("cvt", "mobilevit", "mobilevitv2", "segformer", "hiera"), FEATURE_MAPS),
    **dict.fromkeys(("levit", "pvt", "pvt_v2"), NOT_SELF_ATTENTION),
    **dict.fromkeys(("timm_wrapper", "dinat"), NEEDS_PACKAGE),
    **dict.fromkeys(
        ("clip", "metaclip_2", "siglip", "siglip2", "shieldgemma2", "imagegpt"), COMPOSITE
    ),
    "perceiver": CHANGES_LENGTH,
}


@dataclass(frozen=True)
class MediaLayout:
    """How one image or audio model's tokens are read (decided at load time).

    Attributes:
        modality: ``"vision"`` (images) or ``"sound"`` (audio).
        n_special: leading special tokens ([CLS], distillation, registers; AST's two).
        summary: what the head pools (:data:`MediaSummary`).
        frames_from_length: the model maps a real input length to its real frame count
            (``_get_feat_extract_output_lengths``: Wav2Vec2-like encoders, Whisper); else every
            token is real.
        squeeze: the frames its encoder pools into one token (SEW's ``squeeze_factor``: that
            count is of the feature encoder's frames, the hidden states hold fewer).
        fixed_size: every input has one shape (images; AST and Whisper, whose extractors pad
            or cut to one length), so batches never pad; variable-length audio is batched
            only with inputs of its own length, since a Wav2Vec2-like feature encoder's
            normalisation over time lets padding into real frames even under a mask.
        sampling_rate: the feature extractor's rate (audio), None for images.
        max_samples: the longest audio one input holds (AST: ``max_length`` frames of 10 ms;
            Whisper: its 30-s chunk), None where the model takes any length.
        grid: the patch grid ``(rows, cols)`` of the processed input where the model has one
            (ViT-like images, AST's frequency x time patches), else None.
        windowed: its attention runs within windows of patches (Swin-like), never over all
            tokens, so there are no whole-image weights to draw or summarise.
    """

    modality: Modality
    n_special: int = 0
    summary: MediaSummary = "mean"
    frames_from_length: bool = False
    sampling_rate: int | None = None
    max_samples: int | None = None
    grid: tuple[int, int] | None = None
    windowed: bool = False
    squeeze: int = 1
    fixed_size: bool = True


def media_refusal(config: Any) -> Refusal | None:
    """Why ctxvec refuses an image or audio model with this config, or None."""
    return MEDIA_REFUSED.get(getattr(config, "model_type", ""))


def media_layout(model: Any, processor: Any, modality: Modality) -> MediaLayout:
    """The :class:`MediaLayout` of a loaded image or audio classifier and its preprocessor."""
    config = model.config
    model_type = config.model_type
    n_special = LEADING_SPECIAL.get(model_type, 0)
    if model_type == "dinov2_with_registers":
        n_special += int(config.num_register_tokens)
    summary = SUMMARY.get(model_type, "mean")
    if model_type in ("beit", "data2vec-vision") and not config.use_mean_pooling:
        summary = "first"
    if modality == "vision":
        windowed = hasattr(config, "window_size")
        return MediaLayout(
            "vision", n_special, summary, grid=_image_grid(config), windowed=windowed
        )
    rate = int(processor.sampling_rate)
    max_samples = None
    if model_type == "audio-spectrogram-transformer":
        # One frame per 10 ms (Kaldi fbank's shift), max_length frames per input.
        max_samples = int(processor.max_length) * rate // 100
    elif hasattr(processor, "n_samples"):  # Whisper: one fixed chunk
        max_samples = int(processor.n_samples)
    return MediaLayout(
        "sound",
        n_special,
        summary,
        frames_from_length=hasattr(model, "_get_feat_extract_output_lengths"),
        sampling_rate=rate,
        max_samples=max_samples,
        grid=_ast_grid(config) if model_type == "audio-spectrogram-transformer" else None,
        squeeze=int(getattr(config, "squeeze_factor", 1)),
        fixed_size=max_samples is not None,
    )


def _image_grid(config: Any) -> tuple[int, int] | None:
    """Rows and columns of a ViT-like model's patches (None: Swin-like, whose stages merge
    patches)."""
    if hasattr(config, "depths"):
        return None
    size, patch = config.image_size, config.patch_size
    size = size if isinstance(size, (list, tuple)) else (size, size)
    patch = patch if isinstance(patch, (list, tuple)) else (patch, patch)
    return size[0] // patch[0], size[1] // patch[1]


def _ast_grid(config: Any) -> tuple[int, int]:
    """AST's patches: ``(frequency, time)`` counts of its overlapping 16 x 16 patches."""
    f = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
    t = (config.max_length - config.patch_size) // config.time_stride + 1
    return f, t
