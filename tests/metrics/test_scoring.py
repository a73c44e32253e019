"""ctxvec.metrics.scoring against an independent transcription of the official SQuAD 2.0 script."""

from __future__ import annotations

import collections
import random
import re
import string
import warnings

import numpy as np
import pytest

from ctxvec.errors import CtxvecError
from ctxvec.metrics.scoring import (
    answer_tokens,
    classification_scores,
    exact_match,
    f1_scores,
    normalize_answer,
    squad_v2_example_scores,
    squad_v2_scores,
    token_f1,
)

# --- Oracle: the logic of the official evaluate-v2.0.py, in its own style and code paths. ---
# Deliberately not factored or shared with ctxvec: it is the reference the library must match.
# The script's "Missing prediction" branch is left out; every test predicts every question.


def official_normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r"\b(a|an|the)\b", re.UNICODE)
        return re.sub(regex, " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def official_get_tokens(s):
    if not s:
        return []
    return official_normalize_answer(s).split()


def official_compute_exact(a_gold, a_pred):
    return int(official_normalize_answer(a_gold) == official_normalize_answer(a_pred))


def official_compute_f1(a_gold, a_pred):
    gold_toks = official_get_tokens(a_gold)
    pred_toks = official_get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def official_make_qid_to_has_ans(dataset):
    qid_to_has_ans = {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid_to_has_ans[qa["id"]] = bool(qa["answers"])
    return qid_to_has_ans


def official_get_raw_scores(dataset, preds):
    exact_scores = {}
    f1_scores = {}
    for article in dataset:
        for p in article["paragraphs"]:
            for qa in p["qas"]:
                qid = qa["id"]
                gold_answers = [
                    a["text"] for a in qa["answers"] if official_normalize_answer(a["text"])
                ]
                if not gold_answers:
                    gold_answers = [""]
                a_pred = preds[qid]
                exact_scores[qid] = max(official_compute_exact(a, a_pred) for a in gold_answers)
                f1_scores[qid] = max(official_compute_f1(a, a_pred) for a in gold_answers)
    return exact_scores, f1_scores


def official_apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh):
    new_scores = {}
    for qid, s in scores.items():
        pred_na = na_probs[qid] > na_prob_thresh
        if pred_na:
            new_scores[qid] = float(not qid_to_has_ans[qid])
        else:
            new_scores[qid] = s
    return new_scores


def official_make_eval_dict(exact_scores, f1_scores, qid_list=None):
    if not qid_list:
        total = len(exact_scores)
        return collections.OrderedDict(
            [
                ("exact", 100.0 * sum(exact_scores.values()) / total),
                ("f1", 100.0 * sum(f1_scores.values()) / total),
                ("total", total),
            ]
        )
    else:
        total = len(qid_list)
        return collections.OrderedDict(
            [
                ("exact", 100.0 * sum(exact_scores[k] for k in qid_list) / total),
                ("f1", 100.0 * sum(f1_scores[k] for k in qid_list) / total),
                ("total", total),
            ]
        )


def official_merge_eval(main_eval, new_eval, prefix):
    for k in new_eval:
        main_eval[f"{prefix}_{k}"] = new_eval[k]


def official_find_best_thresh(preds, scores, na_probs, qid_to_has_ans):
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = num_no_ans
    best_score = cur_score
    best_thresh = 0.0
    qid_list = sorted(na_probs, key=lambda k: na_probs[k])
    for qid in qid_list:
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            if preds[qid]:  # noqa: SIM108 - kept in the script's own shape
                diff = -1
            else:
                diff = 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def official_find_all_best_thresh(main_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans):
    best_exact, exact_thresh = official_find_best_thresh(preds, exact_raw, na_probs, qid_to_has_ans)
    best_f1, f1_thresh = official_find_best_thresh(preds, f1_raw, na_probs, qid_to_has_ans)
    main_eval["best_exact"] = best_exact
    main_eval["best_exact_thresh"] = exact_thresh
    main_eval["best_f1"] = best_f1
    main_eval["best_f1_thresh"] = f1_thresh


def official_main(dataset, preds, na_prob_file=None, na_prob_thresh=1.0):
    """The script's main(), with the JSON files already loaded."""
    if na_prob_file:  # noqa: SIM108 - kept in the script's own shape
        na_probs = na_prob_file
    else:
        na_probs = {k: 0.0 for k in preds}
    qid_to_has_ans = official_make_qid_to_has_ans(dataset)
    has_ans_qids = [k for k, v in qid_to_has_ans.items() if v]
    no_ans_qids = [k for k, v in qid_to_has_ans.items() if not v]
    exact_raw, f1_raw = official_get_raw_scores(dataset, preds)
    exact_thresh = official_apply_no_ans_threshold(
        exact_raw, na_probs, qid_to_has_ans, na_prob_thresh
    )
    f1_thresh = official_apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, na_prob_thresh)
    out_eval = official_make_eval_dict(exact_thresh, f1_thresh)
    if has_ans_qids:
        has_ans_eval = official_make_eval_dict(exact_thresh, f1_thresh, qid_list=has_ans_qids)
        official_merge_eval(out_eval, has_ans_eval, "HasAns")
    if no_ans_qids:
        no_ans_eval = official_make_eval_dict(exact_thresh, f1_thresh, qid_list=no_ans_qids)
        official_merge_eval(out_eval, no_ans_eval, "NoAns")
    if na_prob_file:
        official_find_all_best_thresh(out_eval, preds, exact_raw, f1_raw, na_probs, qid_to_has_ans)
    return out_eval


# --- Helpers --------------------------------------------------------------------------------


def to_dataset(gold, rng=None):
    """gold (id -> answer texts) as the official data[].paragraphs[].qas[] nesting, in order."""
    qas = [{"id": qid, "answers": [{"text": t} for t in answers]} for qid, answers in gold.items()]
    dataset, i = [], 0
    while i < len(qas):
        # Random article/paragraph splits exercise the script's nested loops.
        n_par = rng.randint(1, 3) if rng else 1
        paragraphs = []
        for _ in range(n_par):
            k = rng.randint(1, 3) if rng else len(qas)
            paragraphs.append({"qas": qas[i : i + k]})
            i += k
        dataset.append({"paragraphs": paragraphs})
    return dataset


def assert_matches_official(gold, preds, na_probs=None, thresh=1.0, rng=None):
    ours = squad_v2_scores(gold, preds, na_probs=na_probs, na_threshold=thresh)
    # The script's `if na_prob_file:` is falsy for an empty dict too; tests never pass one.
    ref = official_main(to_dataset(gold, rng), preds, na_prob_file=na_probs, na_prob_thresh=thresh)
    assert list(ours) == list(ref)
    for key, value in ref.items():
        if key.endswith("total"):
            assert ours[key] == value and isinstance(ours[key], int), key
        else:
            assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
            assert isinstance(ours[key], float), key


# --- Normalisation and per-answer scores -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat", "cat"),
        ("  a  cat,  sat!! ", "cat sat"),
        ("An apple; THE pear.", "apple pear"),
        ("theater another", "theater another"),  # articles only as whole words
        ("a-b", "ab"),  # punctuation goes before articles are matched
        ("the", ""),
        ("...", ""),
        ("", ""),
        ("1€the€2", "1€ €2"),  # article -> space keeps the neighbours apart
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected == official_normalize_answer(text)


def test_answer_tokens():
    assert answer_tokens("") == []
    assert answer_tokens("the") == []
    assert answer_tokens(" The cat, the hat ") == ["cat", "hat"]


def test_hand_computed_f1():
    # gold "the cat sat" -> [cat, sat]; pred "a cat sat down" -> [cat, sat, down]
    # overlap 2: precision 2/3, recall 2/2, F1 = 2 * (2/3 * 1) / (2/3 + 1) = 4/5
    assert token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert exact_match("the cat sat", "a cat sat down") == 0
    # multiset overlap: gold [cat, cat, dog], pred [cat, dog, dog] -> overlap {cat: 1, dog: 1} = 2
    # precision 2/3, recall 2/3, F1 = 2/3
    assert token_f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    assert token_f1("cat", "dog") == 0.0
    assert exact_match("The Cat.", "cat") == 1
    assert token_f1("The Cat.", "cat") == 1.0


def test_empty_sides():
    assert token_f1("", "") == 1.0
    assert token_f1("", "cat") == 0.0
    assert token_f1("cat", "") == 0.0
    assert token_f1("the", ".") == 1.0  # both normalise to no tokens
    assert exact_match("", "the") == 1


def test_example_scores_multiple_and_empty_golds():
    # pred [big, cat, sat, on]; vs [cat, sat]: P 2/4, R 1 -> 2/3; vs [big, cat, sat, on, mat]:
    # P 1, R 4/5 -> 8/9. The max is 8/9; no exact match.
    assert squad_v2_example_scores(["cat sat", "the big cat sat on mat"], "big cat sat on") == (
        0,
        pytest.approx(8 / 9),
    )
    assert squad_v2_example_scores(["cat sat", "The cat  sat."], "cat sat") == (1, 1.0)
    # Gold answers that normalise to nothing are dropped; only the real one is left.
    assert squad_v2_example_scores(["the", "cat"], "") == (0, 0.0)
    # All gold answers empty after normalising -> gold is [""]: only an empty prediction scores.
    assert squad_v2_example_scores(["the", "."], "") == (1, 1.0)
    assert squad_v2_example_scores(["the", "."], "cat") == (0, 0.0)
    assert squad_v2_example_scores([], "") == (1, 1.0)
    assert squad_v2_example_scores([], "a") == (1, 1.0)  # "a" normalises to empty


# --- Dataset-level scores: hand-worked ---------------------------------------------------------

GOLD = {"q1": ["cat sat"], "q2": [], "q3": ["dog"], "q4": []}
PREDS = {"q1": "the cat sat down", "q2": "", "q3": "", "q4": "mat"}
NA_PROBS = {"q1": 0.2, "q2": 0.9, "q3": 0.6, "q4": 0.4}


def test_hand_computed_dataset_without_na_probs():
    # raw (EM, F1): q1 (0, 0.8), q2 (1, 1), q3 (0, 0), q4 (0, 0)
    out = squad_v2_scores(GOLD, PREDS)
    assert out == pytest.approx(
        {
            "exact": 25.0,
            "f1": 45.0,
            "total": 4,
            "HasAns_exact": 0.0,
            "HasAns_f1": 40.0,
            "HasAns_total": 2,
            "NoAns_exact": 50.0,
            "NoAns_f1": 50.0,
            "NoAns_total": 2,
        }
    )
    assert_matches_official(GOLD, PREDS)


def test_hand_computed_dataset_with_na_probs():
    # thresh 0.5 abstains on q2 (0.9, unanswerable -> 1) and q3 (0.6, answerable -> 0).
    # best_f1: start at 2 unanswerable; ascending na_prob: q1 +0.8 -> 2.8 (best, at 0.2),
    # q4 pred "mat" -1 -> 1.8, q3 +0, q2 pred "" +0. best = 100 * 2.8 / 4 = 70 at 0.2.
    # best_exact: q1 +0 never beats the start (2) -> 100 * 2 / 4 = 50 at the initial 0.0.
    out = squad_v2_scores(GOLD, PREDS, NA_PROBS, na_threshold=0.5)
    assert out["exact"] == pytest.approx(25.0)
    assert out["f1"] == pytest.approx(45.0)
    assert out["HasAns_f1"] == pytest.approx(40.0)
    assert out["NoAns_exact"] == pytest.approx(50.0)
    assert out["best_f1"] == pytest.approx(70.0)
    assert out["best_f1_thresh"] == 0.2
    assert out["best_exact"] == pytest.approx(50.0)
    assert out["best_exact_thresh"] == 0.0
    for thresh in (0.0, 0.5, 1.0):
        assert_matches_official(GOLD, PREDS, NA_PROBS, thresh)


def test_threshold_is_strict():
    gold = {"q": ["cat"]}
    assert squad_v2_scores(gold, {"q": "cat"}, {"q": 0.5}, na_threshold=0.5)["exact"] == 100.0
    assert squad_v2_scores(gold, {"q": "cat"}, {"q": 0.6}, na_threshold=0.5)["exact"] == 0.0


def test_whitespace_prediction_costs_in_best_threshold():
    # " " normalises to empty, so it scores 1 on an unanswerable question, but the best-threshold
    # walk looks at the raw string: non-empty, so answering it costs 1 (official behaviour).
    out = squad_v2_scores({"q": []}, {"q": " "}, {"q": 0.3})
    assert out["exact"] == 100.0
    assert out["best_exact"] == 100.0 and out["best_exact_thresh"] == 0.0
    assert_matches_official({"q": []}, {"q": " "}, {"q": 0.3})


def test_gold_normalising_to_empty_still_counts_as_answerable():
    out = squad_v2_scores({"q": ["the", "."]}, {"q": ""})
    assert out["HasAns_total"] == 1 and "NoAns_total" not in out
    assert out["exact"] == 100.0


def test_groups_only_when_present():
    assert "NoAns_exact" not in squad_v2_scores({"q": ["x"]}, {"q": "x"})
    assert "HasAns_exact" not in squad_v2_scores({"q": []}, {"q": ""})


def test_extra_predictions_and_na_probs_are_ignored():
    gold = {"q1": ["cat"], "q2": []}
    preds = {"q1": "cat", "q2": "dog", "zz": "extra"}
    na = {"zz": 0.0, "q1": 0.7, "q2": 0.1}
    assert_matches_official(gold, preds, na, 0.5)
    assert squad_v2_scores(gold, preds, na)["total"] == 2


def test_missing_inputs_raise():
    with pytest.raises(CtxvecError, match="missing prediction"):
        squad_v2_scores({"q1": ["a"], "q2": []}, {"q1": "a"})
    with pytest.raises(CtxvecError, match="missing no-answer probability"):
        squad_v2_scores({"q1": ["a"]}, {"q1": "a"}, {})
    with pytest.raises(CtxvecError, match="no questions"):
        squad_v2_scores({}, {})


# --- Dataset-level scores: random datasets against the oracle ----------------------------------

WORDS = ["the", "A", "an", "cat", "Cat", "sat", "mat", "dog", "on", "theater", "1.5", "€"]
PUNCT = ["", "", ",", ".", "!", "-", " "]
EMPTYISH = ["", " ", "the", ".", "a an", "The!"]


def random_text(rng):
    if rng.random() < 0.15:
        return rng.choice(EMPTYISH)
    n = rng.randint(1, 5)
    return "".join(rng.choice(WORDS) + rng.choice(PUNCT) + " " for _ in range(n))


def random_case(rng):
    n = rng.randint(1, 12)
    gold = {}
    for i in range(n):
        k = rng.choice([0, 0, 1, 1, 2, 3])
        gold[f"q{i}"] = [random_text(rng) for _ in range(k)]
    preds = {}
    for qid, answers in gold.items():
        r = rng.random()
        if r < 0.25:
            preds[qid] = ""
        elif r < 0.45 and answers:
            preds[qid] = rng.choice(answers)
        else:
            preds[qid] = random_text(rng)
    # Few distinct values give ties, whose walk order (na_probs' key order) matters.
    pool = [0.0, 0.1, 0.5, 0.9, 1.0, 1.5] if rng.random() < 0.5 else None
    keys = list(gold)
    rng.shuffle(keys)
    na_probs = {k: rng.choice(pool) if pool else rng.random() * 1.2 for k in keys}
    return gold, preds, na_probs


def test_random_datasets_match_official():
    rng = random.Random(20240601)
    for _ in range(400):
        gold, preds, na_probs = random_case(rng)
        for thresh in (0.0, 0.5, 1.0):
            assert_matches_official(gold, preds, None, thresh, rng)
            assert_matches_official(gold, preds, na_probs, thresh, rng)


def test_random_per_answer_scores_match_official():
    rng = random.Random(7)
    for _ in range(2000):
        a, b = random_text(rng), random_text(rng)
        assert normalize_answer(a) == official_normalize_answer(a)
        assert exact_match(a, b) == official_compute_exact(a, b)
        assert token_f1(a, b) == official_compute_f1(a, b)


# --- Classification ----------------------------------------------------------------------------


def test_classification_scores_hand_computed():
    y_true = [1, 0, 1, 1, 0]
    y_pred = [1, 0, 0, 1, 1]
    # accuracy 3/5. Class 1: TP 2, FP 1, FN 1 -> P = R = 2/3, F1 2/3.
    # Class 0: TP 1, FP 1, FN 1 -> F1 1/2. Macro F1 = (2/3 + 1/2) / 2 = 7/12.
    out = classification_scores(y_true, y_pred, positive_label=1)
    assert out == pytest.approx({"accuracy": 0.6, "f1": 2 / 3, "macro_f1": 7 / 12})
    assert classification_scores(y_true, y_pred, positive_label=0)["f1"] == pytest.approx(0.5)
    assert all(isinstance(v, float) for v in out.values())


def test_classification_without_positive_label_is_macro():
    out = classification_scores([0, 1, 2, 2], [0, 2, 2, 1], positive_label=None)
    # Class 0: F1 1. Class 1: TP 0 -> 0. Class 2: TP 1, FP 1, FN 1 -> 1/2. Macro = 1.5 / 3.
    assert out["f1"] == out["macro_f1"] == pytest.approx(0.5)
    assert out["accuracy"] == pytest.approx(0.5)


def test_classification_absent_positive_class_is_zero_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = classification_scores([0, 0], [0, 0], positive_label=1)
    assert out == {"accuracy": 1.0, "f1": 0.0, "macro_f1": 1.0}


@pytest.mark.parametrize("positive", [1, 0, None])
def test_vectorised_f1_equals_scikit_learn(positive) -> None:
    """One F1 rule serves the scores and the bootstrap: row by row it is scikit-learn's."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(positive or 7)
    k = 3 if positive is None else 2
    labels = rng.integers(0, k, size=(50, 40))
    preds = np.where(rng.random((50, 40)) < 0.6, labels, rng.integers(0, k, size=(50, 40)))
    labels[0] = preds[0] = 0  # the positive class absent from truth and prediction
    got = f1_scores(labels, preds, positive, axis=-1)
    # Along an axis, macro F1 averages over the classes of the whole input (a bootstrap's
    # sample), also in a row (a resample) that lacks one of them.
    classes = [positive] if positive is not None else np.union1d(labels, preds)
    for i in range(50):
        want = f1_score(labels[i], preds[i], labels=classes, average="macro", zero_division=0)
        assert got[i] == pytest.approx(want, abs=1e-15)
        if positive is None:  # one sample alone: the classes it has, as scikit-learn's default
            want = f1_score(labels[i], preds[i], average="macro", zero_division=0)
        assert classification_scores(labels[i], preds[i], positive)["f1"] == pytest.approx(
            want, abs=1e-15
        )
