"""Training a zoo member: dev split, features, model, loop and dev score.

A plain torch loop (AdamW, linear warm-up and decay, fixed-length batches in a seeded order),
deterministic for a seed on CPU with a given number of threads; it trains on one thread
(:func:`one_thread`) so the weights do not depend on the machine's core count. A tenth of the
data (whole paragraphs for QA) is held out, and each saved checkpoint's dev score is computed
by the study's own prediction and scoring code. Choosing members and saving checkpoints are
:mod:`ctxvec.offline.zoo`'s job.

A member with a :class:`Regulariser` is trained on ``task loss - lambda * R``, ``R`` a
context-vector statistic of the batch's hidden states (:mod:`ctxvec.metrics.regularisers`):
a positive ``lambda`` raises the statistic, a negative one lowers it (I-STAR's convention).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ctxvec.data import Dataset
from ctxvec.errors import CtxvecError, ParameterError
from ctxvec.loading.decoders import pad_token_fallback, summary_position
from ctxvec.loading.panels import minilm_dir, mpnet_dir
from ctxvec.metrics.regularisers import (
    STATISTICS,
    pooled_tokens,
    regulariser_value,
    shrinkage_matrix,
)
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
# The optimiser's fixed settings, recorded on every card.
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
# I-STAR's shrinkage matrix C0 comes from up to 250,000 token states; on CPU this many per
# hidden dimension (19,200 for MiniLM's 384) keep its covariance well conditioned for a
# fraction of a training step's cost.
C0_POINTS_PER_DIM = 50


@dataclass(frozen=True)
class Regulariser:
    """A term ``- weight * R`` added to a member's task loss (``R``: ``statistic`` of the
    batch, :func:`ctxvec.metrics.regularisers.regulariser_value`).

    ``weight`` is lambda: positive raises the statistic, negative lowers it, 0 trains as
    without a regulariser. ``layers`` index the model's ``hidden_states`` (0: embeddings,
    -1: the last layer).
    """

    statistic: str
    weight: float = 0.0
    # I-STAR's default shrinkage: mini-batch covariances of a few thousand tokens are noisy, a
    # fifth of a larger sample's steadies them (zeta is used by isoscore only).
    zeta: float = 0.2
    # None: every layer after the embeddings, pooled, as I-STAR regularises ("all"); the study
    # measures the last layer by default, which this moves with the rest.
    layers: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ParameterError(
                "statistic", f"'{self.statistic}' is not one of {', '.join(STATISTICS)}"
            )
        if not 0.0 <= self.zeta <= 1.0:
            raise ParameterError("zeta", f"{self.zeta} must be between 0 and 1")

    def card(self) -> dict[str, Any]:
        """What a card records of it."""
        return {
            "statistic": self.statistic,
            "lambda": self.weight,
            "zeta": self.zeta,
            "layers": None if self.layers is None else list(self.layers),
        }


def layer_indices(layers: tuple[int, ...] | None, n_states: int) -> list[int]:
    """``layers`` as non-negative indices into ``n_states`` hidden states (None: 1 to the last).

    Raises:
        ParameterError: a layer the model does not have.
    """
    if layers is None:
        return list(range(1, n_states))
    bad = [i for i in layers if not -n_states <= i < n_states]
    if bad:
        raise ParameterError(
            "layers", f"{bad} out of range: the model has layers 0 (embeddings) to {n_states - 1}"
        )
    return sorted({i % n_states for i in layers})


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
    An image or audio task's member gets its family's preprocessor in the tokenizer's place
    (:mod:`ctxvec.offline.media_families`) and a fresh model.

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
    if task.head.modality != "text":
        return _new_media_model(member, task, head, auto)
    if member.base is not None or member.family in PRETRAINED:
        path = member.base or str(PRETRAINED[member.family][0](f"the zoo's {member.name} member"))
        tokenizer = AutoTokenizer.from_pretrained(path)
        # A base checkpoint may have a head for other labels: that head is then replaced.
        model = auto.from_pretrained(path, **head, ignore_mismatched_sizes=True)
        reads_pad = summary_position(model.config) == "last-non-pad"
        pad_token_fallback(tokenizer, model.config, head_reads_pad_id=reads_pad, name=member.name)
        # The 30k-row word embeddings dominate the optimiser's work; the task needs the rest.
        model.get_input_embeddings().weight.requires_grad_(False)
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


def _new_media_model(member: Member, task: Task, head: dict, auto: Any):
    """An image or audio family's preprocessor and a fresh model with ``head``'s fields."""
    from ctxvec.offline import media_families

    if member.regulariser is not None:
        raise CtxvecError(
            f"zoo member '{member.name}': regularisers train text models only; leave it out"
        )
    families = media_families.MEDIA_FAMILIES.get(task.name, ())
    if member.base is not None or member.family not in families:
        raise CtxvecError(
            f"zoo member '{member.name}': the zoo trains {', '.join(families) or 'nothing'} "
            f"from scratch for the {task.name} task; give one as its family, without a base"
        )
    config = media_families.media_config(
        member.family,
        hidden_size=member.hidden_size,
        num_layers=member.num_layers,
        num_heads=member.num_heads,
    )
    for key, value in head.items():
        setattr(config, key, value)
    return media_families.media_preprocessor(member.family), auto.from_config(config)


def collate(chunk: list[dict], tokenizer, model) -> dict[str, torch.Tensor]:
    """One padded batch of features: the inputs ``model`` accepts and the training targets.

    ``tokenizer`` may be an image or audio model's preprocessor: an image processor's pixel
    arrays are all one size and are stacked, a feature extractor pads as a tokenizer does."""
    from transformers.image_processing_base import ImageProcessingMixin

    accepted = inspect.signature(model.forward).parameters
    names = [n for n in tokenizer.model_input_names if n in accepted and n in chunk[0]]
    if isinstance(tokenizer, ImageProcessingMixin):
        batch = {n: torch.from_numpy(np.stack([f[n] for f in chunk])) for n in names}
    else:
        inputs = [{n: f[n] for n in names} for f in chunk]
        batch = dict(tokenizer.pad(inputs, return_tensors="pt"))
    for key in ("start_positions", "end_positions", "labels"):
        if key in chunk[0]:
            batch[key] = torch.tensor([f[key] for f in chunk])
    return batch


def batches(features: list[dict], tokenizer, model, batch_size: int, seed: int):
    """Endless seeded stream of padded training batches."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(features))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            yield collate([features[j] for j in order[i : i + batch_size]], tokenizer, model)


def _hidden_states(outputs) -> tuple[torch.Tensor, ...]:
    """The ``[batch, n_tokens, hidden]`` states of every layer (an encoder-decoder's encoder)."""
    states = getattr(outputs, "hidden_states", None)
    return states if states is not None else outputs.encoder_hidden_states


def _real_tokens(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[batch, n_tokens]`` bool: the tokens that are not padding."""
    mask = batch.get("attention_mask")
    return torch.ones_like(batch["input_ids"], dtype=torch.bool) if mask is None else mask.bool()


def _shrinkage(model, tokenizer, features: list[dict], batch_size: int, layers) -> torch.Tensor:
    """I-STAR's ``C0`` (``[hidden, hidden]``): the covariance of the chosen layers' real-token
    states of the first training features, without gradients, in eval mode (no dropout, so
    the random state is untouched), up to :data:`C0_POINTS_PER_DIM` per dimension."""
    model.eval()
    points: list[torch.Tensor] = []
    with torch.no_grad():
        for i in range(0, len(features), batch_size):
            batch = collate(features[i : i + batch_size], tokenizer, model)
            states = _hidden_states(model(**batch, output_hidden_states=True))
            points.append(pooled_tokens(states, _real_tokens(batch), layers))
            if sum(len(p) for p in points) >= C0_POINTS_PER_DIM * points[0].shape[1]:
                break
    model.train()
    return shrinkage_matrix(torch.cat(points))


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

    With a member's :class:`Regulariser` of non-zero weight the loss is ``task loss - weight *
    R``; IsoScore*'s shrinkage matrix is recomputed at the start of every pass over the
    features, as I-STAR does each epoch. A zero weight trains exactly as no regulariser: the
    same batches, the same random state, the same weights.

    ``on_step(step, last)`` hears of each finished step (after its checkpoint, if any, is
    saved), and of step 0 as training starts; it shows the progress (:mod:`ctxvec.offline.zoo`
    decides how) and must not touch the random state.
    """
    from transformers import get_linear_schedule_with_warmup

    batch_size = min(member.batch_size, len(features))
    last = max(member.steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=member.learning_rate, weight_decay=WEIGHT_DECAY)
    warmup = max(1, round(warmup_fraction * last))
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, last)
    stream = batches(features, tokenizer, model, batch_size, seed)
    term = member.regulariser if member.regulariser and member.regulariser.weight else None
    per_pass = len(features) // batch_size  # batches() drops the last partial batch
    layers: list[int] = []
    c0 = None
    model.train()
    if on_step is not None:
        on_step(0, last)
    for step in range(1, last + 1):
        batch = next(stream)
        if term is None:
            loss = model(**batch).loss
        else:
            outputs = model(**batch, output_hidden_states=True)
            states = _hidden_states(outputs)
            layers = layers or layer_indices(term.layers, len(states))
            if term.statistic == "isoscore" and term.zeta and (step - 1) % per_pass == 0:
                c0 = _shrinkage(model, tokenizer, features, batch_size, layers)
            r = regulariser_value(
                term.statistic, states, _real_tokens(batch), layers, term.zeta, c0
            )
            loss = outputs.loss - term.weight * r
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
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
