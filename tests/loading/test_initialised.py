"""Freshly initialised weights: listed on the loaded model, in the manifest and in one terminal
line; a checkpoint whose body does not load at all is refused even with --allow-untrained-head."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
from sample_data import squad_json

from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.study.run import _initialised_note
from ctxvec.study.units import initialised_weights
from ctxvec.tasks import get_task

QA_HEAD = ("qa_outputs.bias", "qa_outputs.weight")


def load(path, task: str, allow: bool):
    spec = ModelSpec(str(path))
    return load_model(resolve_model(spec), get_task(task).head, "cpu", "float32", allow)


@pytest.mark.parametrize("family", ["bert", "roberta", "xlnet", "deberta-v2"])
def test_a_base_checkpoint_for_qa_lists_exactly_the_head(tiny_model, family) -> None:
    lm = load(tiny_model(family, "base"), "qa", allow=True)
    assert lm.initialised == QA_HEAD


def test_a_base_checkpoint_is_refused_without_the_flag(tiny_model) -> None:
    with pytest.raises(CtxvecError) as e:
        load(tiny_model("bert", "base"), "qa", allow=False)
    assert "no trained question-answering head (2 weights freshly initialised: " in str(e.value)
    assert "--allow-untrained-head" in str(e.value)


def test_a_fine_tuned_checkpoint_has_nothing_fresh(tiny_model) -> None:
    assert load(tiny_model("bert", "qa"), "qa", allow=False).initialised == ()


def test_a_body_missing_some_weights_is_listed_with_the_head(tiny_model) -> None:
    # A QA checkpoint has no pooler; BERT's classifier reads it from the body.
    lm = load(tiny_model("bert", "qa"), "cls", allow=True)
    assert lm.initialised == (
        "bert.pooler.dense.bias",
        "bert.pooler.dense.weight",
        "classifier.bias",
        "classifier.weight",
    )


@pytest.fixture(scope="module")
def llama_causal(tmp_path_factory, tiny_model):
    """A tiny base Llama saved as LlamaForCausalLM (body under ``model.``), with a tokenizer
    copied from the tiny BERT: LlamaForQuestionAnswering expects its body under
    ``transformer.``, so none of it loads (the issue's case)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("llama") / "tiny-llama"
    config = LlamaConfig(
        vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(folder)
    for file in tiny_model("bert", "base").iterdir():
        if "token" in file.name or file.name == "vocab.txt":
            shutil.copy(file, folder / file.name)
    return folder


@pytest.mark.parametrize("allow", [True, False])
def test_a_body_that_does_not_load_is_refused_even_when_allowed(llama_causal, allow) -> None:
    with pytest.raises(CtxvecError) as e:
        load(llama_causal, "qa", allow=allow)
    message = str(e.value)
    assert "none of its body's 20 weights were found in the checkpoint" in message
    assert "expected under 'transformer.'" in message and "\n" not in message


def test_the_cli_refuses_it_in_one_line(tmp_path, llama_causal, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    args = ["study", "qa", "--data", str(data), "--model", str(llama_causal)]
    args += ["--subsets", "1", "--subset-size", "3", "--out", str(tmp_path / "o")]
    code, _, err = run_cli(*args, "--quiet", "--figures", "none", "--allow-untrained-head")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ctxvec: error: model 'tiny-llama': none of its body's 20 weights")


def test_a_study_lists_them_in_the_manifest_and_one_line(tmp_path, tiny_model, run_cli) -> None:
    data = squad_json(tmp_path / "dev.json", copies=1)
    args = ["study", "qa", "--data", str(data), "--model", str(tiny_model("bert", "base"))]
    args += ["--subsets", "2", "--subset-size", "3", "--out", str(tmp_path / "o")]
    args += ["--quiet", "--figures", "none", "--allow-untrained-head"]
    for _ in range(2):  # computed, then from the cache: the same record and line
        code, out, err = run_cli(*args)
        assert code == 0, err
        manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
        assert manifest["models"][0]["initialised"] == list(QA_HEAD)
        lines = [line for line in out.splitlines() if "freshly initialised" in line]
        assert lines == [
            "ctxvec: warning: bert-base: 2 weights freshly initialised; see manifest.json"
        ]


def test_the_warning_line_fits_80_columns() -> None:
    assert _initialised_note("m", ["h.b", "h.w"]) == (
        "ctxvec: warning: m: 2 weights freshly initialised (h.b, h.w); see manifest.json"
    )
    long = "an-organisation/" + "x" * 80
    for names in (list(QA_HEAD), [f"encoder.layer.{i}.weight" for i in range(40)]):
        line = _initialised_note(long, names)
        assert len(line) <= 80 and f"{len(names)} weights freshly initialised" in line
        assert line.endswith("; see manifest.json")


def test_a_unit_cached_before_the_record_is_unknown_only_when_allowed() -> None:
    def unit(label: str, allow: bool, state: dict):
        model = SimpleNamespace(label=label)
        return SimpleNamespace(
            unit=SimpleNamespace(model=model, allow_untrained_head=allow),
            summary=SimpleNamespace(state=state),
        )

    results = [
        unit("a", True, {"initialised": ["h.b"]}),
        unit("a", True, {"initialised": ["h.a"]}),
        unit("old-strict", False, {}),
        unit("old-allowed", True, {"initialised": []}),
        unit("old-allowed", True, {}),
    ]
    assert initialised_weights(results) == {
        "a": ["h.a", "h.b"],
        "old-strict": [],
        "old-allowed": None,
    }
