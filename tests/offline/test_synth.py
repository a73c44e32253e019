"""The built-in benchmark: deterministic, valid for the study's loaders, balanced as asked."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from ctxvec.data import load_qa_dataset, load_text_dataset
from ctxvec.errors import CtxvecError
from ctxvec.offline import synth


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory):
    return synth.write_qa(tmp_path_factory.mktemp("synth") / "qa.json", 300, seed=3)


@pytest.fixture(scope="module")
def cls_file(tmp_path_factory):
    return synth.write_cls(tmp_path_factory.mktemp("synth") / "cls.parquet", 400, seed=3)


def test_qa_is_deterministic_for_a_seed_and_varies_with_it(qa_file):
    again = synth.make_qa(300, seed=3)
    assert json.loads(qa_file.read_text(encoding="utf-8")) == again
    assert synth.make_qa(300, seed=4) != again


def test_qa_reads_back_with_every_offset_matching(qa_file):
    dataset = load_qa_dataset(qa_file)
    assert len(dataset) == 300
    for e in dataset.examples:
        for text, start in zip(e.answers, e.answer_starts, strict=True):
            assert e.context[start : start + len(text)] == text
            assert text.strip() == text and text


def test_qa_has_a_third_unanswerable_and_every_question_kind(qa_file):
    dataset = load_qa_dataset(qa_file)
    unanswerable = [e for e in dataset.examples if not e.answers]
    assert len(unanswerable) == round(300 / 3)
    first_words = Counter(e.question.split()[0] for e in dataset.examples)
    for word in ("Who", "Where", "When", "What", "How"):
        assert first_words[word] > 0, first_words


def test_qa_official_fields(qa_file):
    obj = json.loads(qa_file.read_text(encoding="utf-8"))
    assert obj["version"] == "v2.0"
    for article in obj["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                assert qa["is_impossible"] == (not qa["answers"])


def test_qa_answers_need_reading_past_a_distractor(qa_file):
    """Most answerable questions have another answer of the same kind in their context."""
    dataset = load_qa_dataset(qa_file)
    answerable = [e for e in dataset.examples if e.answers]
    years = re.compile(r"\b(19|20)\d\d\b")
    with_distractor = 0
    for e in answerable:
        if years.fullmatch(e.answers[0]):
            with_distractor += len(years.findall(e.context)) > 1
        else:
            with_distractor += 1  # non-year answers: checked below through the unanswerables
    assert with_distractor / len(answerable) > 0.9
    # Unanswerable questions are mostly about a person the paragraph does mention.
    mentioned = 0
    for e in (e for e in dataset.examples if not e.answers):
        names = re.findall(r"[A-Z][a-z]+ [A-Z][a-z]+", e.question)
        mentioned += any(name in e.context for name in names)
    assert mentioned / (300 / 3) > 0.4


def test_qa_unanswerable_share_is_configurable():
    obj = synth.make_qa(60, seed=0, unanswerable=0.5)
    flags = [qa["is_impossible"] for a in obj["data"] for p in a["paragraphs"] for qa in p["qas"]]
    assert sum(flags) == 30 and len(flags) == 60


def test_check_offsets_catches_a_shifted_answer():
    obj = synth.make_qa(6, seed=0, unanswerable=0)
    obj["data"][0]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    with pytest.raises(CtxvecError, match="not at offset"):
        synth.check_offsets(obj)


def test_cls_is_deterministic_balanced_and_reads_back(cls_file):
    dataset = load_text_dataset(cls_file)
    assert len(dataset) == 400
    assert Counter(e.label for e in dataset.examples) == {0: 200, 1: 200}
    assert synth.make_cls(400, seed=3).equals(synth.make_cls(400, seed=3))
    assert not synth.make_cls(400, seed=3).equals(synth.make_cls(400, seed=4))


def test_cls_label_noise_flips_the_asked_share_and_keeps_balance():
    clean = synth.make_cls(400, seed=1)
    noisy = synth.make_cls(400, seed=1, label_noise=0.1)
    assert (clean["text"] == noisy["text"]).all()
    assert (clean["label"] != noisy["label"]).sum() == 40
    assert Counter(noisy["label"]) == {0: 200, 1: 200}


def test_cls_bag_of_words_is_not_enough():
    """Negation and contrast defeat a linear bag-of-words model well short of perfect."""
    train, test = synth.make_cls(2000, seed=0), synth.make_cls(1000, seed=1)
    vectorizer = CountVectorizer(ngram_range=(1, 1))
    model = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train.text), train.label)
    accuracy = model.score(vectorizer.transform(test.text), test.label)
    assert 0.5 < accuracy < 0.8, accuracy


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: synth.make_qa(0), "at least 1"),
        (lambda: synth.make_qa(10, unanswerable=1.5), r"\[0, 1\]"),
        (lambda: synth.make_cls(7), "even"),
        (lambda: synth.make_cls(10, label_noise=0.7), "label noise"),
        (lambda: synth.write_qa("x.parquet", 3), ".json"),
        (lambda: synth.write_cls("x.json", 4), ".parquet"),
    ],
)
def test_bad_arguments_are_user_errors(call, message):
    with pytest.raises(CtxvecError, match=message):
        call()


def test_generators_do_not_depend_on_the_date(monkeypatch):
    """Faker's date providers draw relative to now (a later "now" changes their output); the
    benchmark must not."""
    import datetime

    import faker.providers.date_time as faker_dates

    qa, cls = synth.make_qa(60, seed=1), synth.make_cls(60, seed=1)

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2091, 7, 1, tzinfo=tz)

    monkeypatch.setattr(faker_dates, "datetime", Later)
    assert synth.make_qa(60, seed=1) == qa
    assert synth.make_cls(60, seed=1).equals(cls)
