"""The image and audio families the model zoo trains from scratch: each one's config and the
preprocessor saved beside it.

Images (:data:`IMAGE_FAMILIES`) are read at 32 x 32 pixels, the synthetic benchmark's size
(:func:`ctxvec.offline.synth.write_images`), through ``ViTImageProcessorPil`` (resized to
32 x 32, rescaled to [0, 1] and normalised with mean and standard deviation 0.5 per channel,
so pixels span [-1, 1]):

* vit: ViT, patches of 8 (a 4 x 4 grid after [CLS]), ``hidden_size`` wide, ``num_layers``
  layers of ``num_heads`` heads; its head reads [CLS].
* deit: DeiT, ViT's sizes with a distillation token after [CLS]
  (``DeiTForImageClassification``: the head reads [CLS]; with no teacher to distil from, the
  distillation token is one more learned token the patches attend to). Swin was tried
  first: at these sizes it stayed near chance (29% after 600 steps at difficulty 0.3), and
  the study's attention statistics refuse windowed attention.

Audio (:data:`AUDIO_FAMILIES`) is read at 16 kHz:

* ast: the Audio Spectrogram Transformer over 16 Kaldi mel bins x 128 frames of 10 ms (1.28 s:
  the benchmark's clips of about a second fit one input), patches of 8 x 8 at strides of 8
  (2 x 16 of them after its two special tokens), ``ASTFeatureExtractor`` with its own
  (AudioSet) normalisation.
* wav2vec2: Wav2Vec2's three-layer convolutional feature encoder (strides 10, 4, 4: one frame
  per 10 ms, as AST's; the real models' 20 ms would need a fourth layer, and 5 ms trained
  2.5 times slower) with layer norm, so that zero padding never enters a real frame's
  normalisation, then ``num_layers`` transformer layers; ``Wav2Vec2FeatureExtractor``
  normalises each clip to zero mean and unit variance and returns its attention mask.
  SpecAugment is off (it draws from numpy's global random state, which the zoo's seeding
  leaves alone), and so is layer drop (a two-layer model has little to drop).

Left out: pretrained media models (the text zoo's MiniLM has no media counterpart here), other
image sizes and sampling rates, and the other families the study reads (BEiT, DINOv2, Swin,
HuBERT, WavLM, ...).
"""

from __future__ import annotations

from typing import Any

from transformers import (
    ASTConfig,
    ASTFeatureExtractor,
    DeiTConfig,
    PretrainedConfig,
    ViTConfig,
    ViTImageProcessorPil,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
)

from ctxvec.errors import CtxvecError

IMAGE_FAMILIES: tuple[str, ...] = ("vit", "deit")
AUDIO_FAMILIES: tuple[str, ...] = ("ast", "wav2vec2")
MEDIA_FAMILIES = {"image": IMAGE_FAMILIES, "audio": AUDIO_FAMILIES}

IMAGE_SIZE = 32
SAMPLING_RATE = 16_000
# 1.28 s of 10-ms frames: a benchmark clip (about 1 s, up to 30% longer) is one AST input.
AST_FRAMES = 128
MEL_BINS = 16


def media_preprocessor(family: str) -> Any:
    """The family's image processor or feature extractor (saved beside its weights)."""
    if family in IMAGE_FAMILIES:
        return ViTImageProcessorPil(
            size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )
    if family == "ast":
        return ASTFeatureExtractor(
            feature_size=1,
            num_mel_bins=MEL_BINS,
            max_length=AST_FRAMES,
            sampling_rate=SAMPLING_RATE,
        )
    if family == "wav2vec2":
        return Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=SAMPLING_RATE,
            do_normalize=True,
            return_attention_mask=True,
        )
    raise _unknown(family)


def media_config(
    family: str, *, hidden_size: int, num_layers: int, num_heads: int
) -> PretrainedConfig:
    """A randomly initialisable config of ``family`` sized as asked (see the module's list)."""
    sizes = {
        "hidden_size": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "intermediate_size": 4 * hidden_size,
    }
    if family == "vit":
        return ViTConfig(**sizes, image_size=IMAGE_SIZE, patch_size=8, num_channels=3)
    if family == "deit":
        # The Auto class maps DeiT to two heads; the architecture names the one without teacher.
        return DeiTConfig(
            **sizes,
            image_size=IMAGE_SIZE,
            patch_size=8,
            num_channels=3,
            architectures=["DeiTForImageClassification"],
        )
    if family == "ast":
        return ASTConfig(
            **sizes,
            patch_size=8,
            num_mel_bins=MEL_BINS,
            max_length=AST_FRAMES,
            frequency_stride=8,
            time_stride=8,
        )
    if family == "wav2vec2":
        return Wav2Vec2Config(
            **sizes,
            conv_dim=[16, 16, 16],
            conv_stride=[10, 4, 4],
            conv_kernel=[10, 4, 4],
            feat_extract_norm="layer",
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            classifier_proj_size=16,
            apply_spec_augment=False,
            layerdrop=0.0,
        )
    raise _unknown(family)


def _unknown(family: str) -> CtxvecError:
    known = ", ".join((*IMAGE_FAMILIES, *AUDIO_FAMILIES))
    return CtxvecError(f"'{family}' is not a media family of the zoo; use one of {known}")
