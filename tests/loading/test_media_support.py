"""Every image and audio architecture in the installed transformers' classification mappings.

A tiny random checkpoint of each type (``tests/media_models.py``) either runs both ways, the
study's pass (its per-example Variance and CSE at every layer equal to the float64 formulas on
plain transformers' ``output_hidden_states`` of the unpadded input; its predictions plain
transformers') and the attention view, or is refused in one line naming it, before any weight
loads. A type the checkpoint builder cannot build (it needs a package ctxvec does not install)
must be refused from its config alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from media_models import AUDIO_TYPES, IMAGE_TYPES, build_media_checkpoint
from transformers import AutoConfig
from transformers.models.auto import modeling_auto

from ctxvec.attention.weights import attend_inputs, load_for_attention
from ctxvec.data import AudioExample, ImageExample, MediaDataset
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.loading.media import MEDIA_REFUSED
from ctxvec.tasks import get_task
from ctxvec.tasks.audio import AudioSettings
from ctxvec.tasks.media import MediaSettings

# What each type does here (a new type in transformers fails the first test until it is
# placed): the ones that run; the ones whose study runs but whose attention is windowed.
RUNS = {
    "vit", "vit_msn", "deit", "beit", "data2vec-vision", "dinov2", "dinov2_with_registers",
    "ijepa", "swin", "swinv2", "donut-swin", "audio-spectrogram-transformer", "data2vec-audio",
    "hubert", "sew", "sew-d", "unispeech", "unispeech-sat", "wav2vec2", "wav2vec2-bert",
    "wav2vec2-conformer", "wavlm", "whisper",
}  # fmt: skip
WINDOWED = {"swin", "swinv2", "donut-swin"}
ATOL = 1e-5


def test_every_type_of_the_mappings_is_placed() -> None:
    image = set(modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES)
    audio = set(modeling_auto.MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES)
    assert image == set(IMAGE_TYPES) and audio == set(AUDIO_TYPES)
    assert RUNS | set(MEDIA_REFUSED) | {"shieldgemma2"} == image | audio
    assert not RUNS & set(MEDIA_REFUSED)


def _examples(task: str, rng: np.random.Generator) -> list:
    if task == "image":  # sizes other than the model's: its processor resizes
        return [
            ImageExample(f"i{k}", rng.integers(0, 256, (20 + 4 * k, 28, 3), np.uint8), "abc"[k])
            for k in range(3)
        ]
    return [
        AudioExample(f"a{k}", (0.1 * rng.standard_normal(4000 + 1700 * k)).astype(np.float32),
                     16000, "abc"[k])
        for k in range(3)
    ]  # fmt: skip


def _plain(lm, feature: dict) -> tuple[list[np.ndarray], np.ndarray]:
    """Plain transformers on one unpadded input: the real tokens' hidden states of every
    layer, float64, and the logits."""
    inputs = {n: torch.as_tensor(np.asarray(feature[n]))[None] for n in lm.input_names}
    with torch.no_grad():
        out = lm.model(**inputs, output_hidden_states=True)
    states = []
    for h in out.hidden_states:
        n = h.shape[1]  # an unpadded input's tokens are all real, but where the extractor
        if lm.model.config.model_type == "whisper":  # pads: Whisper to its chunk (stride 2)
            n = (feature["length"] - 1) // 2 + 1
        elif lm.model.config.model_type == "wav2vec2-bert":  # to an even number of frames
            n = feature["length"]
        states.append(h[0, :n].double().numpy())
    return states, out.logits[0].double().numpy()


@pytest.mark.parametrize("model_type", [*IMAGE_TYPES, *AUDIO_TYPES])
def test_every_architecture_runs_both_ways_or_is_refused_in_one_line(
    model_type: str, tmp_path, oracles
) -> None:
    task = get_task("image" if model_type in IMAGE_TYPES else "audio")
    found = build_media_checkpoint(model_type, tmp_path / "model")
    if isinstance(found, str):  # cannot be built here: its config alone is refused
        AutoConfig.for_model(model_type).save_pretrained(tmp_path / "config")
        found = tmp_path / "config"
    spec = resolve_model(ModelSpec(str(found), model_type))
    if model_type not in RUNS:
        with pytest.raises(CtxvecError) as refused:
            load_model(spec, task.head, "cpu", "float32")
        line = str(refused.value)
        assert "\n" not in line and f"'{model_type}'" in line and "; use" in line
        return
    lm = load_model(spec, task.head, "cpu", "float32")
    settings = (MediaSettings if task.name == "image" else AudioSettings)(layers="all")
    examples = _examples(task.name, np.random.default_rng(0))
    rows = task.predict(lm, MediaDataset(examples, "test"), settings, progress=False).rows
    features, _ = task.features(lm, examples, settings)
    for row, feature in zip(rows.itertuples(), features, strict=True):
        states, logits = _plain(lm, feature)
        assert row.n_tokens == len(states[-1])
        for name in ("variance", "cse"):
            # Some types' [CLS] embedding starts at zero: layer 0's cosines are then undefined
            # (NaN) in the formula and in the study alike, which assert_allclose checks.
            with np.errstate(invalid="ignore"):
                want = [getattr(oracles, name)(h) for h in states]
            got = getattr(row, f"{name}_by_layer")
            np.testing.assert_allclose(got, want, rtol=0, atol=ATOL, err_msg=name)
        assert row.prediction == int(np.argmax(logits))
        probability = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        assert row.probability == pytest.approx(probability.max(), abs=1e-5)
    # The attention view of the first example.
    if model_type in WINDOWED:
        with pytest.raises(CtxvecError) as refused:
            load_for_attention(ModelSpec(str(found), model_type), task, "cpu")
        assert "\n" not in str(refused.value) and "windows" in str(refused.value)
        return
    viewed = load_for_attention(ModelSpec(str(found), model_type), task, "cpu")
    attention = attend_inputs(viewed, task.inputs_of(examples[0]))
    n = len(attention.tokens)
    assert attention.weights.shape[2:] == (n, n) and attention.segment.shape == (n,)
    np.testing.assert_allclose(attention.weights.sum(-1), 1.0, atol=1e-4)
    assert attention.prediction == rows.iloc[0]["prediction_name"]
