"""Training a zoo member: dev split, features, model, loop and dev score.

A plain torch loop (AdamW, linear warm-up and decay, fixed-length batches in a seeded order),
deterministic for a seed on CPU with a given number of threads; it trains on one thread
(:func:`one_thread`) so the weights do not depend on the machine's core count. A tenth of the
data (whole paragraphs for QA) is held out, and each saved checkpoint's dev score is computed
by the study's own prediction and scoring code. Choosing members and saving checkpoints are
:mod:`ctxvec.offline.zoo`'s job.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ctxvec.data import QADataset, QAExample, Task, TextDataset, TextExample
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.loading.panels import minilm_dir, mpnet_dir
from ctxvec.tasks.classify import ClsSettings, cls_scores, match_labels, predict_cls
from ctxvec.tasks.qa import QASettings, predict_qa, qa_scores
from ctxvec.tasks.windows import encode_windows

if TYPE_CHECKING:
    from ctxvec.offline.zoo import Member, ZooSettings

MINILM = "minilm"
MPNET = "mpnet"
# Pretrained members: family -> (where its weights are, the hub name they are a copy of).
PRETRAINED: dict[str, tuple[Callable[[str], Path], str]] = {
    MINILM: (minilm_dir, "sentence-transformers/all-MiniLM-L6-v2"),
    MPNET: (mpnet_dir, "sentence-transformers/all-mpnet-base-v2"),
}


# --------------------------------------------------------------------------- data split


def split_dev(
    dataset: QADataset | TextDataset, fraction: float, max_dev: int, seed: int
) -> tuple[list, list]:
    """Seeded (train, dev) split; QA questions of one paragraph stay on one side.

    Returns:
        the train examples and at most ``max_dev`` dev examples.
    """
    groups: dict[str, list] = {}
    for e in dataset.examples:
        key = e.context if isinstance(e, QAExample) else e.id
        groups.setdefault(key, []).append(e)
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    n_dev = max(1, round(fraction * len(keys)))
    dev = [e for i in order[:n_dev] for e in groups[keys[i]]][:max_dev]
    train = [e for i in order[n_dev:] for e in groups[keys[i]]]
    if not train:
        raise CtxvecError(f"{dataset.source} is too small to hold out a dev part; give more data")
    return train, dev


# ----------------------------------------------------------------------------- features


def qa_features(tokenizer, examples: Sequence[QAExample], settings: ZooSettings) -> list[dict]:
    """Training windows with start/end token positions (the [CLS] token where no answer)."""
    enc = encode_windows(tokenizer, examples, settings.max_length, settings.stride)
    names = [n for n in tokenizer.model_input_names if n in enc]
    features = []
    for i, owner in enumerate(enc["overflow_to_sample_mapping"]):
        example = examples[owner]
        ids = enc["input_ids"][i]
        seq = enc.sequence_ids(i)
        cls = ids.index(tokenizer.cls_token_id)
        start = end = cls
        if example.answers:
            first = example.answer_starts[0]
            last = first + len(example.answers[0])
            offsets = enc["offset_mapping"][i]
            tokens = [
                t
                for t, ((a, b), s) in enumerate(zip(offsets, seq, strict=True))
                if s == 1 and a < last and b > first
            ]
            # A window holding only part of the answer is trained as "no answer" in it.
            if tokens and offsets[tokens[0]][0] <= first and offsets[tokens[-1]][1] >= last:
                start, end = tokens[0], tokens[-1]
        feature = {n: enc[n][i] for n in names}
        feature["start_positions"] = start
        feature["end_positions"] = end
        features.append(feature)
    return features


def cls_features(
    tokenizer, examples: Sequence[TextExample], to_id: dict, settings: ZooSettings
) -> list[dict]:
    enc = tokenizer([e.text for e in examples], truncation=True, max_length=settings.max_length)
    names = [n for n in tokenizer.model_input_names if n in enc]
    return [
        {**{n: enc[n][i] for n in names}, "labels": to_id[e.label]} for i, e in enumerate(examples)
    ]


def label_names(dataset: TextDataset) -> dict[int | str, str]:
    """Dataset label -> the name a model's ``id2label`` gets for it."""
    values = sorted({e.label for e in dataset.examples}, key=str)
    if all(isinstance(v, int) for v in values):
        if dataset.label_names:
            return {v: dataset.label_names[v] for v in values}
        if values != list(range(len(values))):
            raise CtxvecError(
                f"{dataset.source}: integer labels must be 0..K-1, got {values}; renumber them"
            )
        return {v: f"LABEL_{v}" for v in values}
    return {v: str(v) for v in values}


# ----------------------------------------------------------------------------- training


def new_model(member: Member, task: Task, train_texts: list[str], labels, settings, seed):
    import transformers
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from ctxvec.offline import families

    auto = AutoModelForQuestionAnswering if task == "qa" else AutoModelForSequenceClassification
    head = {}
    if task == "cls":
        head = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {n: i for i, n in enumerate(labels)},
        }
    torch.manual_seed(seed)
    transformers.logging.set_verbosity_error()  # the expected "head newly initialised" report
    transformers.utils.logging.disable_progress_bar()
    if member.family in PRETRAINED:
        weights, _ = PRETRAINED[member.family]
        path = str(weights(f"the zoo's {member.name} member"))
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = auto.from_pretrained(path, **head)
        # The 30k-row word embeddings dominate the optimiser's work; the task needs the rest.
        model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
        return tokenizer, model
    tokenizer = families.build_tokenizer(
        member.family, train_texts, settings.vocab_size, model_max_length=settings.max_length
    )
    config = families.encoder_config(
        member.family,
        tokenizer,
        hidden_size=member.hidden_size,
        num_layers=member.num_layers,
        num_heads=member.num_heads,
        max_positions=settings.max_length,
    )
    for key, value in head.items():
        setattr(config, key, value)
    return tokenizer, auto.from_config(config)


def batches(features: list[dict], tokenizer, model, batch_size: int, seed: int):
    """Endless seeded stream of padded training batches."""
    accepted = inspect.signature(model.forward).parameters
    names = [n for n in tokenizer.model_input_names if n in accepted and n in features[0]]
    targets = [k for k in ("start_positions", "end_positions", "labels") if k in features[0]]
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(features))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [features[j] for j in order[i : i + batch_size]]
            batch = dict(
                tokenizer.pad([{n: f[n] for n in names} for f in chunk], return_tensors="pt")
            )
            for key in targets:
                batch[key] = torch.tensor([f[key] for f in chunk])
            yield batch


def fit(
    member: Member,
    model,
    tokenizer,
    features: list[dict],
    save: Callable[[int], None],
    seed: int,
    warmup_fraction: float,
) -> None:
    from transformers import get_linear_schedule_with_warmup

    batch_size = min(member.batch_size, len(features))
    last = max(member.steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=member.learning_rate, weight_decay=0.01)
    warmup = max(1, round(warmup_fraction * last))
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, last)
    stream = batches(features, tokenizer, model, batch_size, seed)
    model.train()
    for step in range(1, last + 1):
        loss = model(**next(stream)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step in member.steps:
            model.eval()
            save(step)
            model.train()


# ------------------------------------------------------------------------------ scoring


def dev_score(
    path: Path, task: Task, dev: list, dataset, settings: ZooSettings
) -> dict[str, float]:
    """The saved checkpoint's dev score, by the study's own prediction and scoring code."""
    lm = load_model(resolve_model(ModelSpec(str(path))), task, "cpu", "float32")
    if task == "qa":
        qa = QASettings(max_length=settings.max_length, stride=settings.stride)
        rows = predict_qa(lm, dev, qa, progress=False).rows
        return {"metric": "f1", "value": round(qa_scores(rows)["f1"], 3), "n": len(rows)}
    labels = match_labels(lm.model.config.id2label, dataset)
    cls = ClsSettings(max_length=settings.max_length)
    rows = predict_cls(lm, dev, labels, cls, progress=False).rows
    accuracy = cls_scores(rows, None)["accuracy"]
    return {"metric": "accuracy", "value": round(accuracy, 3), "n": len(rows)}


@contextmanager
def one_thread() -> Iterator[None]:
    """Train on one thread: CPU results then do not depend on the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
