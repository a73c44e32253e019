"""Tiny, random, deterministic image and audio classifiers of every type in transformers'
image- and audio-classification mappings, each saved with its own preprocessor, for tests.

:func:`build_media_checkpoint` writes a ``save_pretrained`` folder (config, safetensors weights
and ``preprocessor_config.json``) that ``AutoModelForImageClassification`` /
``AutoModelForAudioClassification`` and ``AutoImageProcessor`` / ``AutoFeatureExtractor`` load
back offline; :func:`tiny_media_config` is its config. Every model has the labels ``a``, ``b``,
``c`` (by default), random weights (``torch.manual_seed(0)``) and under a million parameters
(most 10k-40k); a build takes a few tens of milliseconds.

Images are 32 x 32 RGB: each processor resizes (and where it crops, crops) to 32 x 32, except
ImageGPT's (8 x 8 pixels as ids of 16 colour clusters) and SigLIP 2's (up to 16 patches of 8 x 8,
``[batch, 16, 192]`` with a patch mask and the grid's shape). Hidden states:

* ViT-like, ``num_hidden_layers`` + 1 states ``[batch, n_special + 16, 32]`` (2 layers of 2
  heads, patches of 8: a 4 x 4 grid in row-major order after the special tokens): vit, vit_msn
  ([CLS]), deit ([CLS], distillation), beit and data2vec-vision ([CLS], relative position bias
  off), dinov2 ([CLS]), dinov2_with_registers ([CLS] + ``num_register_tokens`` = 4), ijepa
  (none); the vision towers of clip and metaclip_2 ([CLS]), siglip and siglip2 (none), whose
  text towers are tiny too and unused.
* Swin-like, ``depths`` = [1, 1] (windows of 2, patches of 4, embed_dim 16), states
  ``[batch, 64, 16]`` then ``[batch, 16, 32]`` after each stage's patch merging, and
  ``reshaped_hidden_states`` as maps: swin, swinv2, donut-swin; focalnet (focal modulation, no
  attention); hiera (mask-unit attention; its states are in mask-unit order, not row-major).
* Hierarchical with convolutional, pooled or spatially reduced attention, 2 stages: cvt, levit,
  pvt ([CLS] in its last stage), pvt_v2, segformer, mobilevit, mobilevitv2; most give maps
  ``[batch, channels, h, w]`` as hidden states.
* Convolutional or pooling networks with no attention, small stages, maps as hidden states:
  bit, convnext, convnextv2, efficientnet, hgnet_v2, mobilenet_v1, mobilenet_v2, poolformer,
  pp_lcnet (its "logits" are in ``last_hidden_state``: it returns no ``logits``), regnet,
  resnet, swiftformer, textnet.
* Others: imagegpt (a causal decoder over the 64 pixel ids, 2 layers), perceiver (8 latents of
  32 read the pixels by cross-attention; its hidden states are the latents).

Audio is 16 kHz:

* audio-spectrogram-transformer: 16 Kaldi mel bins x 100 frames of 10 ms (every input padded or
  cut to 1 s, no attention mask), patches of 8 x 8 at strides 8: [CLS], distillation, then a
  2 (frequency) x 12 (time) grid, time fastest.
* Wav2Vec2-like: a three-layer convolutional feature encoder (kernels 10, 4, 4, strides 5, 4,
  4: one frame per 80 samples, 5 ms; ``_get_feat_extract_output_lengths`` gives the count) and
  2 transformer layers of 32: data2vec-audio, hubert, sew and sew-d (their states are at half
  that rate, squeezed inside; ``last_hidden_state`` is upsampled back), unispeech,
  unispeech-sat, wav2vec2, wav2vec2-conformer, wavlm. Their ``Wav2Vec2FeatureExtractor``
  returns an attention mask over samples.
* wav2vec2-bert: 16 mel bins stacked by 2, one frame per 20 ms (``SeamlessM4TFeatureExtractor``,
  as the real checkpoints: the mapping names ``Wav2Vec2FeatureExtractor``, whose raw samples
  this model cannot read), attention mask over frames, 2 conformer layers.
* whisper: the encoder only, 16 mel bins, 1-s chunks (100 frames, 50 after its strided
  convolution), 2 layers; its feature extractor pads every input to the chunk (``padding=True``
  gives shorter inputs, which the model refuses) and returns no attention mask.

:func:`build_media_checkpoint` returns a line instead of a folder for the types it cannot build:
dinat (needs natten), timm_wrapper (needs timm) and shieldgemma2 (a vision-language model whose
head reads its language model's answer to a prompt: it needs a tokenizer and chat template).

Left out: pretrained weights or anything meaningful in the outputs (shapes and plumbing only),
the mappings' other classes of a type (Perceiver's Fourier and convolutional variants, DeiT's
and LeViT's "with teacher" heads), realistic input sizes, and video.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModelForAudioClassification,
    AutoModelForImageClassification,
    PretrainedConfig,
)
from transformers.models.auto import image_processing_auto, modeling_auto

_IMAGE_HEADS = modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES
_AUDIO_HEADS = modeling_auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES
IMAGE_TYPES: tuple[str, ...] = tuple(sorted(_IMAGE_HEADS))
AUDIO_TYPES: tuple[str, ...] = tuple(sorted(_AUDIO_HEADS))

IMAGE_SIZE = 32
SAMPLING_RATE = 16_000
MAX_PARAMETERS = 1_000_000

# Why a type is not built (its model needs a package the project does not install, or more
# than an image to classify).
UNBUILDABLE = {
    "dinat": "dinat needs the natten package, which is not installed",
    "timm_wrapper": "timm_wrapper needs the timm package, which is not installed",
    "shieldgemma2": (
        "shieldgemma2 classifies by its language model's yes/no answer to a text prompt about "
        "the image: it needs a tokenizer and chat template, not only an image processor"
    ),
}

# Tiny sizes for the fields a config has (by its own name for them); the rest keep defaults.
_TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    "image_size": IMAGE_SIZE,
    "patch_size": 8,
    "num_channels": 3,
}
# Two stages of Swin-like windowed attention over 8 x 8 patches of 4 pixels.
_SWIN = {
    "patch_size": 4,
    "embed_dim": 16,
    "depths": [1, 1],
    "num_heads": [2, 2],
    "window_size": 2,
    "mlp_ratio": 2.0,
}
# The convolutional feature encoder and positional convolution of the Wav2Vec2-like models.
_SPEECH = {
    "conv_dim": [16, 16, 16],
    "conv_stride": [5, 4, 4],
    "conv_kernel": [10, 4, 4],
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "classifier_proj_size": 16,
}
_VISION_TOWER = {**_TINY, "projection_dim": 16}
_TEXT_TOWER = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 37,
    "vocab_size": 99,
    "max_position_embeddings": 16,
    "projection_dim": 16,
}
_TOWERS = {"vision_config": _VISION_TOWER, "text_config": _TEXT_TOWER}

_TINY_FOR: dict[str, dict[str, Any]] = {
    # ViT-like: the generic sizes, and what each also sizes by its own name.
    "dinov2": {"mlp_ratio": 1},
    "dinov2_with_registers": {"mlp_ratio": 1},
    "clip": {**_TOWERS, "projection_dim": 16},
    "metaclip_2": {**_TOWERS, "projection_dim": 16},
    "siglip": _TOWERS,
    "siglip2": {**_TOWERS, "vision_config": {**_VISION_TOWER, "num_patches": 16}},
    # Swin-like.
    "swin": _SWIN,
    "swinv2": {**_SWIN, "pretrained_window_sizes": [0, 0]},
    "donut-swin": _SWIN,
    "focalnet": {
        **_SWIN,
        "hidden_sizes": [16, 32],
        "focal_levels": [2, 2],
        "focal_windows": [3, 3],
    },
    "hiera": {
        "embed_dim": 16,
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "patch_size": [3, 3],
        "patch_stride": [4, 4],
        "patch_padding": [1, 1],
        "depths": [1, 1],
        "num_heads": [1, 2],
        "num_query_pool": 1,
        "masked_unit_size": [4, 4],
        "masked_unit_attention": [True, False],
        "mlp_ratio": 2.0,
    },
    # Hierarchical with reduced or convolutional attention.
    "cvt": {
        "patch_sizes": [7, 3],
        "patch_stride": [4, 2],
        "patch_padding": [2, 1],
        "embed_dim": [16, 32],
        "num_heads": [1, 2],
        "depth": [1, 2],  # CvT reads a stage's drop-path rates at its stage index
        "mlp_ratio": [2.0, 2.0],
        "attention_drop_rate": [0.0, 0.0],
        "drop_rate": [0.0, 0.0],
        "drop_path_rate": [0.0, 0.0],
        "qkv_bias": [True, True],
        "cls_token": [False, True],
        "qkv_projection_method": ["dw_bn", "dw_bn"],
        "kernel_qkv": [3, 3],
        "padding_kv": [1, 1],
        "stride_kv": [2, 2],
        "padding_q": [1, 1],
        "stride_q": [1, 1],
    },
    "pvt": {
        "num_encoder_blocks": 2,
        "depths": [1, 1],
        "sequence_reduction_ratios": [2, 1],
        "hidden_sizes": [16, 32],
        "patch_sizes": [4, 2],
        "strides": [4, 2],
        "num_attention_heads": [1, 2],
        "mlp_ratios": [2, 2],
    },
    "pvt_v2": {
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "num_encoder_blocks": 2,
        "depths": [1, 1],
        "sr_ratios": [2, 1],
        "hidden_sizes": [16, 32],
        "patch_sizes": [7, 3],
        "strides": [4, 2],
        "num_attention_heads": [1, 2],
        "mlp_ratios": [2, 2],
    },
    "segformer": {
        "num_encoder_blocks": 2,
        "depths": [1, 1],
        "sr_ratios": [2, 1],
        "hidden_sizes": [16, 32],
        "patch_sizes": [7, 3],
        "strides": [4, 2],
        "num_attention_heads": [1, 2],
        "mlp_ratios": [2, 2],
    },
    "levit": {
        "patch_size": 16,
        "hidden_sizes": [16, 32],
        "num_attention_heads": [1, 2],
        "depths": [1, 1],
        "key_dim": [8, 8],
        "mlp_ratio": [2, 2],
        "attention_ratio": [2, 2],
        "down_ops": [["Subsample", 8, 2, 4, 2, 2]],
    },
    "mobilevit": {
        "hidden_sizes": [16, 16, 16],
        "neck_hidden_sizes": [8, 8, 16, 16, 16, 16, 32],
        "patch_size": 2,
        "expand_ratio": 2.0,
    },
    "mobilevitv2": {
        "patch_size": 1,  # its last stage is 1 x 1 (v1 interpolates it up to a patch, v2 not)
        "width_multiplier": 0.25,
        "n_attn_blocks": [1, 1, 1],
        "base_attn_unit_dims": [32, 32, 32],
    },
    # Convolutional or pooling networks.
    "bit": {
        "embedding_size": 16,
        "hidden_sizes": [32, 64],
        "depths": [1, 1],
        "num_groups": 8,
    },
    "convnext": {"num_stages": 2, "hidden_sizes": [16, 32], "depths": [1, 1]},
    "convnextv2": {"num_stages": 2, "hidden_sizes": [16, 32], "depths": [1, 1]},
    "efficientnet": {
        "width_coefficient": 1.0,
        "depth_coefficient": 1.0,
        "kernel_sizes": [3, 3],
        "in_channels": [32, 16],  # the stem's 32 channels
        "out_channels": [16, 24],
        "strides": [1, 2],
        "num_block_repeats": [1, 1],
        "expand_ratios": [1, 2],
        "hidden_dim": 1280,  # the top convolution's 1280 channels
    },
    "hgnet_v2": {
        "embedding_size": 8,
        "depths": [1, 1],
        "hidden_sizes": [16, 32],
        "stem_channels": [3, 8, 8],
        "stage_in_channels": [8, 16],
        "stage_mid_channels": [8, 8],
        "stage_out_channels": [16, 32],
        "stage_num_blocks": [1, 1],
        "stage_downsample": [False, True],
        "stage_downsample_strides": [2, 2],
        "stage_light_block": [False, True],
        "stage_kernel_size": [3, 3],
        "stage_numb_of_layers": [2, 2],
    },
    "mobilenet_v1": {"depth_multiplier": 0.25},
    "mobilenet_v2": {"depth_multiplier": 0.25, "finegrained_output": False},
    "poolformer": {
        "num_encoder_blocks": 2,
        "depths": [1, 1],
        "hidden_sizes": [16, 32],
        "patch_sizes": [7, 3],
        "strides": [4, 2],
        "padding": [2, 1],
        "mlp_ratio": 2.0,
    },
    "pp_lcnet": {
        "block_configs": [  # it takes five stages: (kernel, in, out, stride, excitation)
            [[3, 8, 8, 1, False]],
            [[3, 8, 16, 2, False]],
            [[3, 16, 16, 2, False]],
            [[3, 16, 32, 2, False]],
            [[3, 32, 32, 2, True]],
        ],
        "stem_channels": 8,
        "class_expand": 32,
        "depths": [1, 1, 1, 1, 1],
    },
    "regnet": {"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1], "groups_width": 8},
    "resnet": {
        "embedding_size": 16,
        "hidden_sizes": [16, 32],
        "depths": [1, 1],
        "layer_type": "basic",
    },
    "swiftformer": {"depths": [1, 1], "embed_dims": [16, 32], "downsamples": [True, True]},
    "textnet": {
        "stem_out_channels": 8,
        "image_size": [IMAGE_SIZE, IMAGE_SIZE],
        "conv_layer_kernel_sizes": [[[3, 3]], [[3, 3]]],
        "conv_layer_strides": [[1], [2]],
        "hidden_sizes": [8, 16, 32],
        "depths": [1, 1],
    },
    # Others.
    "imagegpt": {
        "vocab_size": 17,  # 16 colour clusters and the start-of-sequence token
        "n_positions": 64,
        "n_embd": 32,
        "n_layer": 2,
        "n_head": 2,
        "n_inner": 37,
    },
    "perceiver": {
        "num_latents": 8,
        "d_latents": 32,
        "d_model": 512,  # the learned-position head's own: 256 pixel channels + 256 positions
        "num_self_attends_per_block": 2,
        "num_self_attention_heads": 2,
        "num_cross_attention_heads": 1,
        "qk_channels": 32,
        "v_channels": 32,
    },
    # Audio.
    "audio-spectrogram-transformer": {
        "num_mel_bins": 16,
        "max_length": 100,
        "frequency_stride": 8,
        "time_stride": 8,
    },
    # data2vec-audio: a stack of small positional convolutions instead of one wide one.
    "data2vec-audio": {**_SPEECH, "conv_pos_kernel_size": 5, "num_conv_pos_embeddings": 2},
    "hubert": _SPEECH,
    "sew": _SPEECH,
    "sew-d": {**_SPEECH, "max_position_embeddings": 64, "position_buckets": 32},
    "unispeech": _SPEECH,
    "unispeech-sat": _SPEECH,
    "wav2vec2": _SPEECH,
    "wav2vec2-conformer": {**_SPEECH, "conv_depthwise_kernel_size": 3},
    "wav2vec2-bert": {
        "feature_projection_input_dim": 32,  # 16 mel bins, stacked by 2
        "classifier_proj_size": 16,
        "conv_depthwise_kernel_size": 3,
        "left_max_position_embeddings": 8,
        "right_max_position_embeddings": 2,
    },
    "wavlm": {**_SPEECH, "num_buckets": 16, "max_bucket_distance": 32},
    "whisper": {  # the classifier builds the encoder only
        "num_mel_bins": 16,
        "d_model": 32,
        "encoder_layers": 2,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 37,
        "max_source_positions": 50,  # a 1-s chunk: 100 frames, halved by the second conv
        "classifier_proj_size": 16,
    },
}
# Whisper's feature extractor pads every input to one chunk of this many seconds.
_WHISPER_CHUNK_S = 1


def tiny_media_config(model_type: str, num_labels: int = 3) -> PretrainedConfig:
    """``model_type``'s config with tiny sizes and ``num_labels`` labels ``a``, ``b``, ...

    Raises ValueError for a type of neither mapping or more labels than letters."""
    if model_type not in IMAGE_TYPES and model_type not in AUDIO_TYPES:
        raise ValueError(f"{model_type!r} is in neither the image nor the audio mapping")
    if not 1 <= num_labels <= len(string.ascii_lowercase):
        raise ValueError(f"num_labels must be 1 to 26, not {num_labels}")
    default = AutoConfig.for_model(model_type)
    fields = default.to_dict()
    tiny = {k: v for k, v in _TINY.items() if k in fields}
    tiny.update(_TINY_FOR.get(model_type, {}))
    for name in ("vision_config", "text_config"):  # composite: each tower from its defaults
        if name in tiny:
            tiny[name] = {**fields[name], **tiny[name]}
    id2label = dict(enumerate(string.ascii_lowercase[:num_labels]))
    label2id = {label: i for i, label in id2label.items()}
    # num_labels too: PVT's config has a field of that name (1000) that would win over id2label.
    return AutoConfig.for_model(
        model_type, **tiny, num_labels=num_labels, id2label=id2label, label2id=label2id
    )


def build_media_checkpoint(model_type: str, directory: Path, num_labels: int = 3) -> Path | str:
    """Save a tiny random classifier of ``model_type`` and its preprocessor into ``directory``.

    Returns the directory, or a line saying why the type is not built (:data:`UNBUILDABLE`)."""
    if model_type in UNBUILDABLE:
        return UNBUILDABLE[model_type]
    config = tiny_media_config(model_type, num_labels)
    image = model_type in IMAGE_TYPES
    auto = AutoModelForImageClassification if image else AutoModelForAudioClassification
    # Types with several classes (DeiT, LeViT, Perceiver) need one named: the first.
    config.architectures = config.architectures or [_head_class(model_type)]
    torch.manual_seed(0)
    model = auto.from_config(config)
    n = sum(p.numel() for p in model.parameters())
    if n > MAX_PARAMETERS:  # a config that ignored the sizes
        raise AssertionError(f"tiny {model_type} has {n:,} parameters")
    processor = _image_processor(model_type) if image else _feature_extractor(model_type, config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def _head_class(model_type: str) -> str:
    names = {**_IMAGE_HEADS, **_AUDIO_HEADS}[model_type]
    return names if isinstance(names, str) else names[0]


def _image_processor(model_type: str) -> Any:
    """The type's own image processor (its PIL class: torchvision is not installed), else
    ViT's (dinov2_with_registers and hgnet_v2 name none, pp_lcnet only a torchvision one),
    resizing and cropping to :data:`IMAGE_SIZE`."""
    names = image_processing_auto.IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or {}
    name = names.get("pil") or "ViTImageProcessorPil"
    cls = getattr(transformers, name)
    if model_type == "imagegpt":  # 16 random colour clusters, pixels in [-1, 1]
        clusters = np.random.default_rng(0).uniform(-1, 1, (16, 3)).round(4)
        return cls(clusters=clusters, size={"height": 8, "width": 8})
    if model_type == "siglip2":  # NaFlex: patches of 8, up to 16 of them
        return cls(patch_size=8, max_num_patches=16)
    default = cls()
    options: dict[str, Any] = {}
    size = getattr(default, "size", None) or {}
    if "shortest_edge" in size:
        options["size"] = {"shortest_edge": IMAGE_SIZE}
    elif size:
        options["size"] = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    if getattr(default, "crop_size", None):
        options["crop_size"] = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    return cls(**options)


def _feature_extractor(model_type: str, config: PretrainedConfig) -> Any:
    """A feature extractor of the type's own class (wav2vec2-bert: the real checkpoints') that
    gives the tiny model's inputs at :data:`SAMPLING_RATE`."""
    if model_type == "audio-spectrogram-transformer":
        return transformers.ASTFeatureExtractor(
            feature_size=1,
            num_mel_bins=config.num_mel_bins,
            max_length=config.max_length,
            sampling_rate=SAMPLING_RATE,
        )
    if model_type == "whisper":
        return transformers.WhisperFeatureExtractor(
            feature_size=config.num_mel_bins,
            sampling_rate=SAMPLING_RATE,
            chunk_length=_WHISPER_CHUNK_S,
        )
    if model_type == "wav2vec2-bert":
        return transformers.SeamlessM4TFeatureExtractor(
            feature_size=16,
            num_mel_bins=16,
            stride=2,
            sampling_rate=SAMPLING_RATE,
            return_attention_mask=True,
        )
    return transformers.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLING_RATE, do_normalize=True, return_attention_mask=True
    )
