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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ctxvec.data import Dataset
from ctxvec.errors import CtxvecError
from ctxvec.loading.decoders import pad_token_fallback, summary_position
from ctxvec.loading.panels import minilm_dir, mpnet_dir
from ctxvec.tasks import Task

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
    task: Task, dataset: Dataset, fraction: float, max_dev: int, seed: int
) -> tuple[list, list]:
    """Seeded (train, dev) split; the examples of one group (:meth:`Task.group_of`: QA
    questions of one paragraph) stay on one side.

    Returns:
        the train examples and at most ``max_dev`` dev examples.
    """
    groups: dict[str, list] = {}
    for e in dataset.examples:
        key = task.group_of(e)
        groups.setdefault(key, []).append(e)
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    n_dev = max(1, round(fraction * len(keys)))
    dev = [e for i in order[:n_dev] for e in groups[keys[i]]][:max_dev]
    train = [e for i in order[n_dev:] for e in groups[keys[i]]]
    if not train:
        raise CtxvecError(f"{dataset.source} is too small to hold out a dev part; give more data")
    return train, dev


# ----------------------------------------------------------------------------- training


def new_model(
    member: Member, task: Task, train_texts: list[str], head: dict, settings: ZooSettings, seed: int
):
    """A new tokenizer and model with ``task``'s head (config fields ``head``): a pretrained
    member's weights, or a family's tokenizer trained on ``train_texts`` and a fresh model.

    A decoder without a pad token gets one, and its config the pad id its head reads, as the
    study gives them when it loads a checkpoint
    (:func:`ctxvec.loading.decoders.pad_token_fallback`): batches need both, and the saved
    checkpoint keeps them.
    """
    import transformers
    from transformers import AutoTokenizer

    from ctxvec.offline import families

    auto = getattr(transformers, task.head.auto_class)
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
    config = families.model_config(
        member.family,
        tokenizer,
        hidden_size=member.hidden_size,
        num_layers=member.num_layers,
        num_heads=member.num_heads,
        max_positions=settings.max_length,
    )
    for key, value in head.items():
        setattr(config, key, value)
    reads_pad = summary_position(config) == "last-non-pad"
    pad_token_fallback(tokenizer, config, head_reads_pad_id=reads_pad, name=member.name)
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
    on_step: Callable[[int, int], None] | None = None,
) -> None:
    """Train ``model`` to the member's last step, calling ``save(step)`` at each of its steps.

    ``on_step(step, last)`` hears of each finished step (after its checkpoint, if any, is
    saved), and of step 0 as training starts; it shows the progress (:mod:`ctxvec.offline.zoo`
    decides how) and must not touch the random state.
    """
    from transformers import get_linear_schedule_with_warmup

    batch_size = min(member.batch_size, len(features))
    last = max(member.steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=member.learning_rate, weight_decay=0.01)
    warmup = max(1, round(warmup_fraction * last))
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, last)
    stream = batches(features, tokenizer, model, batch_size, seed)
    model.train()
    if on_step is not None:
        on_step(0, last)
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
        if on_step is not None:
            on_step(step, last)


# ------------------------------------------------------------------------------ scoring


@contextmanager
def one_thread() -> Iterator[None]:
    """Train on one thread: CPU results then do not depend on the machine's core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
