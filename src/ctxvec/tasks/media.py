"""What the image and audio classification tasks share: labels, the pass, predictions, scores.

An image or audio example becomes one or more features (an image: one; a long clip: its
windows, :mod:`ctxvec.tasks.audio`) of its model's own preprocessing; every feature runs through
the study's one forward pass (:func:`~ctxvec.inference.forward.run_forward`), which measures
the model's patches or frames (:func:`~ctxvec.inference.tokens.media_tokens`). An example's
metrics and sentence vectors are the mean over its windows weighted by their token counts, as a
long QA context's are; its prediction is the arg-max of its windows' mean logits. Labels are
matched to the model's by name (:mod:`ctxvec.tasks.labels`); the scores are accuracy and macro
F1 (:mod:`ctxvec.metrics.scoring`).

Left out: decoding files (:mod:`ctxvec.data.media`) and the preprocessing of each kind (the
subclasses' :meth:`MediaTask.features`).
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ctxvec.data import MediaDataset
from ctxvec.errors import ParameterError
from ctxvec.inference.forward import Keep, PassSettings, run_forward
from ctxvec.inference.summaries import PooledSample, check_defined, example_metrics
from ctxvec.loading import LoadedModel
from ctxvec.metrics.scoring import PERCENT, classification_scores, f1_scores
from ctxvec.metrics.stats import put_estimate
from ctxvec.tasks.base import Predictions, Task
from ctxvec.tasks.labels import check_label_names, head_labels, label_names, match_labels

# The class logits, and the sentence vectors the separability metrics pool.
KEEP = Keep(per_feature=("logits",), sentence=True)


@dataclass(frozen=True)
class MediaSettings(PassSettings):
    """An image or audio study's settings beside the forward pass's."""

    # Names of the data's integer labels 0, 1, ... (e.g. ("cat", "dog")) for matching by name.
    label_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # Options of text stacks that mean nothing here: refused, never silently ignored.
        for name, value, default in (
            ("representation", self.representation, "hidden"),
            ("stack", self.stack, "encoder"),
            ("skip_first", self.skip_first, 0),
            ("token_weighting", self.token_weighting, "uniform"),
        ):
            if value != default:
                raise ParameterError(
                    name, f"'{value}' applies to text models; image and audio studies measure "
                    f"their hidden states over every real token (leave it at '{default}')"
                )  # fmt: skip
        check_label_names(self.label_names, "cat,dog")


class MediaTask(Task):
    """Image or audio classification: subclasses say how an example becomes features."""

    default_split = "test"
    default_subsets = (4, 200)
    keep = KEEP
    scores = ("accuracy", "macro_f1")
    columns = ("n_windows", "accuracy", "macro_f1")
    labelled = True

    @abstractmethod
    def features(
        self, lm: LoadedModel, examples: Sequence[Any], settings: MediaSettings
    ) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        """The pass's features of ``examples`` (the model's preprocessor's arrays and each
        one's real ``length``) and, per feature, ``(example index, window index)``."""

    def part(self, dataset: MediaDataset, examples: Sequence[Any]) -> MediaDataset:
        return MediaDataset(
            list(examples), dataset.source, dataset.label_names, dataset.fingerprint
        )

    def predict(
        self,
        lm: LoadedModel,
        dataset: MediaDataset,
        settings: MediaSettings,
        progress: bool = True,
        first_example: int = 0,
        reference: MediaDataset | None = None,
    ) -> Predictions:
        """Classify every example and measure its context vectors.

        Returns one row per example with ``id``, ``label`` and ``prediction`` (model label ids),
        their names, ``probability`` (of the prediction), ``correct``, ``n_tokens`` (over its
        windows), ``n_windows`` and the metrics of
        :func:`~ctxvec.inference.summaries.example_metrics`.
        """
        labels = match_labels(lm.model.config.id2label, dataset, settings.label_names)
        examples = dataset.examples
        features, owners = self.features(lm, examples, settings)
        keys = [(first_example + e, w) for e, w in owners]
        ref = self.features(lm, reference.examples, settings)[0] if reference else []
        out = run_forward(
            lm,
            features,
            self.keep,
            settings,
            desc=lm.resolved.spec.label,
            progress=progress,
            seeds=keys,
            reference=ref,
        )
        by_example: dict[int, list[int]] = {}
        for f, (e, _) in enumerate(owners):
            by_example.setdefault(e, []).append(f)
        logits = out.outputs.get("logits")
        rows = []
        for e, feats in by_example.items():
            example = examples[e]
            metrics = example_metrics(out, feats)
            check_defined(metrics, example.id, lm.resolved.spec.label)
            mean_logits = torch.from_numpy(logits[feats]).double().mean(0)
            probs = torch.softmax(mean_logits, -1).numpy()
            gold, pred = labels.to_model[example.label], int(np.argmax(probs))
            rows.append(
                {
                    "id": example.id,
                    "label": gold,
                    "prediction": pred,
                    "label_name": labels.id2label[gold],
                    "prediction_name": labels.id2label[pred],
                    "probability": float(probs[pred]),
                    "correct": pred == gold,
                    "n_tokens": int(out.n_tokens[feats].sum()),
                    "n_windows": len(feats),
                    **metrics,
                }
            )
        sample = PooledSample.of_pass(out, keys) if rows else None
        return Predictions(pd.DataFrame(rows), [], sample, out.layers, out.kernels, {})

    def subset_scores(
        self, rows: pd.DataFrame, settings: PassSettings, state: Mapping[str, Any]
    ) -> dict[str, float]:
        scores = classification_scores(rows["label"].tolist(), rows["prediction"].tolist(), None)
        return {
            "n_windows": int(rows["n_windows"].sum()),
            "accuracy": PERCENT * scores["accuracy"],
            "macro_f1": PERCENT * scores["macro_f1"],
        }

    def model_scores(self, rows: pd.DataFrame, state: Mapping[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        put_estimate(out, "accuracy", rows["correct"].astype(float), scale=PERCENT)
        macro = functools.partial(f1_scores, positive=None)
        put_estimate(
            out, "macro_f1", rows["label"], rows["prediction"], statistic=macro, scale=PERCENT
        )
        return out

    def class_labels(self, rows: pd.DataFrame) -> list:
        return rows["label"].tolist()

    def head_config(self, dataset: MediaDataset) -> dict[str, Any]:
        return head_labels(dataset)

    def training_texts(self, examples: Sequence[Any]) -> list[str]:
        """None: a media model's preprocessor is chosen with its family, not trained."""
        return []

    def training_ids(self, dataset: MediaDataset) -> dict[int | str, int]:
        """Dataset label -> the class id a new model's head (:meth:`head_config`) gives it."""
        return {v: i for i, v in enumerate(sorted(label_names(dataset), key=str))}

    def dev_score(
        self,
        lm: LoadedModel,
        dev: Sequence[Any],
        dataset: MediaDataset,
        max_length: int,
        stride: int,
    ) -> dict[str, Any]:
        """Accuracy on ``dev`` by :meth:`predict` at the task's default settings (a clip in
        windows as the study cuts it); ``max_length`` and ``stride`` are the text zoo's."""
        rows = self.predict(lm, self.part(dataset, dev), self.settings_type(), progress=False).rows
        accuracy = PERCENT * float(rows["correct"].mean())
        return {"metric": "accuracy", "value": round(accuracy, 3), "n": len(rows)}
