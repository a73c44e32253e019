"""The helper module ``media_models.py``: a tiny image and a tiny audio checkpoint load back
offline through the auto classes, with their preprocessors, and give the shapes their configs
say (hand-computed here); the types it cannot build are told in a line."""

from __future__ import annotations

import numpy as np
import torch
from media_models import AUDIO_TYPES, IMAGE_TYPES, UNBUILDABLE, build_media_checkpoint
from transformers import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoModelForAudioClassification,
    AutoModelForImageClassification,
)


def test_a_tiny_vit_and_its_processor_load_back(tmp_path) -> None:
    folder = build_media_checkpoint("vit", tmp_path)
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder)
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    image = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    inputs = processor(images=[image], return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 3, 32, 32)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    # [CLS] and a 4 x 4 grid of 8-pixel patches, before and after each of 2 layers.
    assert [tuple(h.shape) for h in out.hidden_states] == [(1, 17, 32)] * 3
    assert out.logits.shape == (1, 3)


def test_a_tiny_wav2vec2_and_its_feature_extractor_load_back(tmp_path) -> None:
    folder = build_media_checkpoint("wav2vec2", tmp_path)
    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (8000, 12800)]  # 0.5 s, 0.8 s
    inputs = extractor(waves, sampling_rate=16_000, padding=True, return_tensors="pt")
    assert inputs["attention_mask"].sum(-1).tolist() == [8000, 12800]
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    # Convolutions (kernel, stride) (10, 5), (4, 4), (4, 4): 12800 -> 2559 -> 639 -> 159 frames.
    assert [tuple(h.shape) for h in out.hidden_states] == [(2, 159, 32)] * 3
    assert model._get_feat_extract_output_lengths(torch.tensor(8000)).item() == 99


def test_the_types_not_built_are_told_in_a_line(tmp_path) -> None:
    assert set(UNBUILDABLE) <= set(IMAGE_TYPES) | set(AUDIO_TYPES)
    for model_type in UNBUILDABLE:
        why = build_media_checkpoint(model_type, tmp_path / model_type)
        assert isinstance(why, str) and "\n" not in why and why.startswith(model_type)
        assert not (tmp_path / model_type).exists()
