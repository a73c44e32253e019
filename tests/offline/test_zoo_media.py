"""The media zoo: an image and an audio member trained for a few steps load through the study's
loader with the task's head and its prediction runs; the media demo end to end (slow)."""

from __future__ import annotations

import json

import pytest

from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.offline import demo, synth, zoo
from ctxvec.offline.zoo import Member
from ctxvec.tasks import get_task

CASES = {
    "image": (Member("vit", "vit", (2,), hidden_size=32, batch_size=8), "images"),
    "audio": (Member("ast", "ast", (2,), hidden_size=32, batch_size=8), "audio.parquet"),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("media-zoo-data")
    return {
        "image": synth.write_images(root / "images", 40, seed=3),
        "audio": synth.write_audio(root / "audio.parquet", 24, seed=3),
    }


@pytest.mark.parametrize("task", ["image", "audio"])
def test_member_loads_with_the_task_head_and_predicts(tmp_path, data, task):
    member, _ = CASES[task]
    (checkpoint,) = zoo.build_zoo(task, data[task], tmp_path, [member], workers=1, log=str)
    card = json.loads((checkpoint.path / "card.json").read_text(encoding="utf-8"))
    assert card["task"] == task and card["steps"] == 2 and card["size"]["vocab_size"] is None
    assert card["dev_score"]["metric"] == "accuracy" and 0 <= card["dev_score"]["value"] <= 100
    t = get_task(task)
    lm = load_model(resolve_model(ModelSpec(str(checkpoint.path))), t.head, "cpu", "float32")
    # The checkpoint's own preprocessor came back with it: the one it was trained with.
    assert type(lm.processor).__name__ == (
        "ViTImageProcessorPil" if task == "image" else "ASTFeatureExtractor"
    )
    dataset = t.load_data(str(data[task]), "test")
    classes = synth.IMAGE_CLASSES if task == "image" else synth.AUDIO_CLASSES
    assert sorted(lm.model.config.id2label.values()) == sorted(classes)
    part = t.part(dataset, dataset.examples[:6])
    rows = t.predict(lm, part, t.settings_type(), progress=False).rows
    assert list(rows["id"]) == [e.id for e in part.examples]
    assert rows["probability"].between(0, 1).all() and rows["variance"].notna().all()
    # Reused, not retrained, when asked again; panel.toml lists the checkpoint.
    lines: list[str] = []
    zoo.build_zoo(task, data[task], tmp_path, [member], workers=1, log=lines.append)
    assert any("reused 1 checkpoint" in line for line in lines)
    assert f'id = "{checkpoint.name}"' in (tmp_path / "panel.toml").read_text(encoding="utf-8")


def test_a_text_family_is_refused_for_images(tmp_path, data):
    with pytest.raises(Exception, match="trains vit, deit from scratch for the image task"):
        zoo.build_zoo("image", data["image"], tmp_path, [Member("bert", "bert", (1,))], workers=1)


@pytest.mark.slow
def test_media_demo_end_to_end(tmp_path):
    result = demo.run_demo(
        tmp_path,
        sizes=demo.SMALL,
        members=demo.SMALL_PANELS,
        tasks=("image", "audio"),
        figures=(),
        log=str,
    )
    for task in ("image", "audio"):
        assert (tmp_path / f"study-{task}" / "report.html").is_file()
        assert (tmp_path / "zoo" / task / "panel.toml").is_file()
        n = len(result.checkpoints[task]) * demo.SMALL.subsets
        assert len(result.studies[task].subsets) == n
    # At these sizes the audio members beat chance (25%) at their larger budget on the dev
    # set; the image members do not yet (docs/demo.md), so only their scores' range is checked.
    last = {c.card["family"]: c.card for c in result.checkpoints["audio"] if c.card["steps"] == 40}
    assert all(card["dev_score"]["value"] > 25 for card in last.values()), last
    assert all(0 <= c.card["dev_score"]["value"] <= 100 for c in result.checkpoints["image"])
