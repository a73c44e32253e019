"""Image classification behind the task contract: each model's own image processor, one pass.

An image is one feature: its model's image processor (resized, rescaled and normalised as the
checkpoint was trained; sklearn's 8 x 8 digits are upsampled by it) gives ``pixel_values``
``[3, height, width]``; the measured tokens are the model's patches and, unless
``exclude_special_tokens``, its [CLS]-like tokens (a Swin-like model's: its stage's merged
patches). Data: an image folder of one sub-folder per class, a parquet or JSON Lines table with
an ``image`` column, a hub dataset id, or ``sklearn-digits`` (:mod:`ctxvec.data.media`).

Left out: what every media task shares (:mod:`ctxvec.tasks.media`) and the patch-attention
drawings (:mod:`ctxvec.attention`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ctxvec.data import ImageExample, MediaDataset, load_image_dataset, read_image
from ctxvec.loading import Head, LoadedModel
from ctxvec.tasks.base import Reading
from ctxvec.tasks.heads import EncodedInput, read_label
from ctxvec.tasks.media import MediaSettings, MediaTask

# Images the image processor reads at once when the zoo makes training inputs.
TRAINING_CHUNK = 256


def pixel_values(processor: Any, images: Sequence[np.ndarray], chunk: int) -> np.ndarray:
    """``[n, 3, height, width]`` float32: ``processor`` (a model's image processor) on
    ``images`` (uint8 ``[h, w, 3]`` each), ``chunk`` images at a time."""
    parts = [
        processor(images=list(images[start : start + chunk]), return_tensors="pt")["pixel_values"]
        for start in range(0, len(images), chunk)
    ]
    return torch.cat(parts).float().numpy()


class ImageTask(MediaTask):
    """Image classification (:mod:`ctxvec.tasks.media` with images)."""

    name = "image"
    title = "Image classification"
    description = "image classification"
    settings_type = MediaSettings
    head = Head("AutoModelForImageClassification", "image-classification", modality="vision")
    input_fields = ("image",)

    def load_data(self, source: str, split: str, strict: bool = False) -> MediaDataset:
        return load_image_dataset(source, split)

    def features(
        self, lm: LoadedModel, examples: Sequence[ImageExample], settings: MediaSettings
    ) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        values = pixel_values(lm.processor, [e.image for e in examples], settings.batch_size)
        return [{"pixel_values": v, "length": 1} for v in values], [
            (i, 0) for i in range(len(examples))
        ]

    def training_features(
        self,
        tokenizer: Any,
        examples: Sequence[ImageExample],
        dataset: MediaDataset,
        max_length: int,
        stride: int,
        unanswerable: bool = True,
    ) -> list[dict[str, Any]]:
        """One ``pixel_values`` ``[3, height, width]`` per image, made by ``tokenizer`` (the new
        model's image processor, as :func:`pixel_values` makes the study's), and its class id
        ``labels``; ``max_length``, ``stride`` and ``unanswerable`` are for text and QA."""
        ids = self.training_ids(dataset)
        values = pixel_values(tokenizer, [e.image for e in examples], TRAINING_CHUNK)
        return [
            {"pixel_values": v, "labels": ids[e.label]}
            for v, e in zip(values, examples, strict=True)
        ]

    def encode_one(
        self, lm: LoadedModel, example: ImageExample, limit: int, truncate: bool = False
    ) -> EncodedInput:
        feature = {"pixel_values": pixel_values(lm.processor, [example.image], 1)[0], "length": 1}
        return EncodedInput(feature, None)

    def input_limit(self, settings: MediaSettings) -> tuple[int | None, bool]:
        return None, True  # an image is never cut: its processor sizes it

    def inputs_of(self, example: ImageExample) -> dict[str, Any]:
        return {"image": example.image}

    def read(self, lm: LoadedModel, inputs: Mapping[str, Any], limit: int) -> Reading:
        """The predicted label of one image (a path or a ``[h, w, 3]`` array) and its
        probability."""
        image = inputs["image"]
        image = read_image(image) if isinstance(image, str) else np.asarray(image)
        encoded = self.encode_one(lm, ImageExample("input", image, 0), limit)
        return Reading(encoded, *read_label(lm, encoded), picture=image)
