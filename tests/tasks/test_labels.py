"""Label matching between a model's id2label and a dataset's labels."""

from __future__ import annotations

import pytest

from ctxvec.data import TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.tasks.labels import match_labels


def dataset(labels: list, names: list[str] | None = None) -> TextDataset:
    examples = [TextExample(str(i), "text", lab) for i, lab in enumerate(labels)]
    return TextDataset(examples, source="test", label_names=names)


def test_named_model_labels_match_dataset_names_in_any_order() -> None:
    # The model lists positive first: a positional match would swap every label.
    labels = match_labels({0: "POSITIVE", 1: "NEGATIVE"}, dataset([0, 1, 1], ["neg", "pos"]))
    assert labels.to_model == {0: 1, 1: 0}
    assert labels.positive == 0


def test_string_labels_in_data() -> None:
    labels = match_labels({0: "negative", 1: "positive"}, dataset(["pos", "neg"]))
    assert labels.to_model == {"neg": 0, "pos": 1}
    with pytest.raises(CtxvecError, match="'neutral' is not one of the model's labels"):
        match_labels({0: "negative", 1: "positive"}, dataset(["pos", "neutral"]))


def test_generic_model_labels_match_integer_ids() -> None:
    labels = match_labels({0: "LABEL_0", 1: "LABEL_1"}, dataset([0, 1], ["neg", "pos"]))
    assert labels.to_model == {0: 0, 1: 1}
    assert labels.positive == 1
    with pytest.raises(CtxvecError, match="outside the model's labels"):
        match_labels({0: "LABEL_0", 1: "LABEL_1"}, dataset([0, 2]))
    with pytest.raises(CtxvecError, match="labels are unnamed"):
        match_labels({0: "LABEL_0", 1: "LABEL_1"}, dataset(["pos"]))


def test_mismatched_names_are_an_error() -> None:
    with pytest.raises(CtxvecError, match="'neg' is not one of the model's labels"):
        match_labels({0: "sports", 1: "politics"}, dataset([0, 1], ["neg", "pos"]))


def test_multiclass_has_no_positive_class() -> None:
    labels = match_labels({0: "a", 1: "b", 2: "c"}, dataset([0, 1, 2]))
    assert labels.positive is None


def test_label_names_option_names_integer_labels() -> None:
    # A local file with integer labels and no names: matched by id, unless the user names them.
    model = {0: "POSITIVE", 1: "NEGATIVE"}
    assert match_labels(model, dataset([0, 1])).to_model == {0: 0, 1: 1}
    assert match_labels(model, dataset([0, 1]), ["pos", "neg"]).to_model == {0: 0, 1: 1}
    with pytest.raises(CtxvecError, match="has no name"):
        match_labels(model, dataset([0, 2]), ["pos", "neg"])


def test_label_names_that_swap_the_models_labels_are_refused() -> None:
    with pytest.raises(CtxvecError, match="names label 0 'neg' but the model's label 0 is 'POS"):
        match_labels({0: "POSITIVE", 1: "NEGATIVE"}, dataset([0, 1]), ["neg", "pos"])


def test_label_names_must_name_every_label_of_the_head() -> None:
    with pytest.raises(CtxvecError, match=r"label_names names 3 labels .* has 2"):
        match_labels({0: "LABEL_0", 1: "LABEL_1"}, dataset([0, 1]), ("neg", "pos", "neu"))
    with pytest.raises(CtxvecError, match="label_names names 1 labels"):
        match_labels({0: "negative", 1: "positive"}, dataset([0, 1]), ("neg",))


def test_with_unnamed_model_labels_the_names_say_which_is_positive() -> None:
    generic = {0: "LABEL_0", 1: "LABEL_1"}
    assert match_labels(generic, dataset([0, 1]), ("neg", "pos")).positive == 1
    swapped = match_labels(generic, dataset([0, 1]), ("positive", "negative"))
    assert swapped.to_model == {0: 0, 1: 1} and swapped.positive == 0


def test_names_that_contradict_the_models_labels_are_refused() -> None:
    with pytest.raises(CtxvecError, match="'bad' is not one of the model's labels"):
        match_labels({0: "negative", 1: "positive"}, dataset([0, 1]), ("bad", "good"))
