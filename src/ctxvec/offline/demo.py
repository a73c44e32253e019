"""``ctxvec demo``: the whole study offline, in one command, on the built-in benchmark.

:func:`run_demo` generates the benchmark (:mod:`ctxvec.offline.synth`: a training and a test
file per task), builds or reuses the model zoo on the training files
(:mod:`ctxvec.offline.zoo`), and runs the QA and the classification study on the test files
with every zoo checkpoint as the panel, exactly as ``ctxvec study`` does. Everything lands in
one folder::

    OUT/data/      qa-train.json, qa-test.json, cls-train.parquet, cls-test.parquet
    OUT/zoo/qa/    one save_pretrained folder + card.json per checkpoint, panel.toml
    OUT/zoo/cls/   the same for classification
    OUT/study-qa/  the QA study's outputs (subsets.csv, correlations.json, attention.csv, plots,
                   report, manifest), and attention/: the best checkpoint's heads on one question
    OUT/study-cls/ the classification study's outputs (scored by accuracy)

With ``tasks`` holding ``image`` and ``audio`` (``ctxvec demo --tasks image,audio``) it does the
same for the media benchmarks (:func:`~ctxvec.offline.synth.write_images`,
:func:`~ctxvec.offline.synth.write_audio`, both at :data:`MEDIA_DIFFICULTY`) and the media zoo
(:data:`ctxvec.offline.zoo.DEFAULT_PANELS`: ViT and Swin, AST and Wav2Vec2), beside the text
ones: ``OUT/data/image-train/``, ``image-test/`` (image folders), ``audio-train.parquet``,
``audio-test.parquet``; ``OUT/zoo/image/``, ``zoo/audio/``; ``OUT/study-image/``,
``study-audio/`` (scored by accuracy).

A second run regenerates the same data (deterministic for the seed), so the zoo and every study
unit are reused from disk. Deliberately left out: hub models and real data (use ``ctxvec study``
and ``ctxvec zoo build`` for those) and any tuning of the study's settings beyond subset sizes.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ctxvec import attention
from ctxvec.attention.plots import write_attention_figures
from ctxvec.attention.viewer import write_viewer
from ctxvec.data import load_qa_dataset
from ctxvec.errors import CtxvecError
from ctxvec.loading import ModelSpec
from ctxvec.offline import synth, zoo
from ctxvec.offline.families import FAMILIES, SCRATCH_FAMILIES
from ctxvec.report import load_run, write_report
from ctxvec.study import StudyConfig, StudyResult, run_study
from ctxvec.tasks import get_task

# Classification is scored by accuracy: the barely trained checkpoints answer one class for
# everything, which positive-class F1 would reward with 67 at 50% accuracy.
SCORES = {"qa": "f1", "cls": "accuracy", "image": "accuracy", "audio": "accuracy"}
TEXT_TASKS = ("qa", "cls")
TASKS = (*TEXT_TASKS, "image", "audio")
# Hard enough that the longer-trained checkpoints stay well short of 100% (docs/demo.md), and
# short enough that every clip (1 s, +-16% at this difficulty) is one input of the AST member.
MEDIA_DIFFICULTY = 0.3


@dataclass(frozen=True)
class DemoSizes:
    """How much data the demo generates and studies.

    The test files hold ``subsets * subset_size`` examples per task, so each study uses all of
    its test file; training files are for the zoo (a tenth is held out for dev scores).
    """

    qa_train: int = 3000
    cls_train: int = 3000
    image_train: int = 2000
    audio_train: int = 1000
    subsets: int = 4
    subset_size: int = 100
    # Examples per subset whose per-head attention statistics the studies correlate with the
    # score (--attention-stats).
    attention_stats: int = 32


# For CI and quick checks: minutes become seconds, the scores mean little. Every family is in,
# the encoders at two steps (families grouped in the figures) and the rest at one: each
# checkpoint adds about a second to each study, and the decoders' eight would have made the
# small demo 40% slower.
SMALL = DemoSizes(
    qa_train=160,
    cls_train=160,
    image_train=400,
    audio_train=200,
    subsets=2,
    subset_size=16,
    attention_stats=4,
)
SMALL_PANEL: tuple[zoo.Member, ...] = (
    *(
        zoo.Member(f, f, (2, 6) if f in FAMILIES else (6,), hidden_size=32, batch_size=8)
        for f in SCRATCH_FAMILIES
    ),
    zoo.Member(zoo.MINILM, zoo.MINILM, (2,), learning_rate=1e-4, batch_size=4),
)
# The media zoo at small sizes: every family, a few steps and a late checkpoint that still
# beats chance on the small dev sets (docs/demo.md).
SMALL_MEDIA_PANELS: dict[str, tuple[zoo.Member, ...]] = {
    "image": (
        zoo.Member("vit", "vit", (5, 150), learning_rate=2e-3),
        zoo.Member("deit", "deit", (5, 150), learning_rate=2e-3),
    ),
    "audio": (
        zoo.Member("ast", "ast", (5, 40), hidden_size=32, learning_rate=2e-3, batch_size=16),
        zoo.Member("wav2vec2", "wav2vec2", (5, 40), hidden_size=32, batch_size=16),
    ),
}
# What ``ctxvec demo --small`` trains, by task.
SMALL_PANELS: dict[str, tuple[zoo.Member, ...]] = {
    **dict.fromkeys(TEXT_TASKS, SMALL_PANEL),
    **SMALL_MEDIA_PANELS,
}


@dataclass
class DemoResult:
    out_dir: Path
    checkpoints: dict[str, list[zoo.Checkpoint]]
    studies: dict[str, StudyResult]
    seconds: float


def run_demo(
    out_dir: str | Path = "ctxvec-demo",
    seed: int = 0,
    sizes: DemoSizes = DemoSizes(),
    members: Sequence[zoo.Member] | Mapping[str, Sequence[zoo.Member]] | None = None,
    zoo_settings: zoo.ZooSettings | None = None,
    workers: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
    figures: tuple[str, ...] = ("png", "svg"),
    tasks: Sequence[str] = TEXT_TASKS,
) -> DemoResult:
    """Generate data, build (or reuse) the zoo, run each task's study into ``out_dir``.

    ``tasks``: some of :data:`TASKS` (default: QA and classification). ``members`` is the panel
    of every task, or a panel per task (default, and for a task the mapping leaves out:
    :data:`ctxvec.offline.zoo.DEFAULT_PANELS`).
    ``log`` hears a line as each phase starts (benchmark, each task's zoo and study, attention)
    and the zoo's and studies' own lines; ``progress`` shows bars on standard error for the
    zoo's training and the studies (for a terminal; without, training says how far it is on
    standard error now and then).
    ``figures``: the static figures' formats, as :class:`~ctxvec.study.StudyConfig`'s (the
    attention figures are written as PNG when it holds ``"png"``).
    """
    started = time.perf_counter()
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise CtxvecError(f"the demo's tasks are some of {', '.join(TASKS)}; got {list(tasks)}")
    out_dir = Path(out_dir)
    data = out_dir / "data"
    n_test = sizes.subsets * sizes.subset_size
    log(f"ctxvec demo: writing the benchmark to {data}")
    # Test data gets its own seed, so no generated paragraph or review repeats a training one.
    paths = {task: _write_data(task, data, sizes, n_test, seed) for task in tasks}
    checkpoints, studies = {}, {}
    for task, (train, test) in paths.items():
        log(f"ctxvec demo: {task} model zoo in {out_dir / 'zoo' / task}")
        checkpoints[task] = zoo.build_zoo(
            task,
            train,
            out_dir / "zoo" / task,
            members.get(task) if isinstance(members, Mapping) else members,
            seed=seed,
            settings=zoo_settings or zoo.ZooSettings(),
            workers=workers,
            log=log,
            progress=progress,
        )
        config = StudyConfig(
            task=task,
            models=tuple(ModelSpec(str(c.path), c.name) for c in checkpoints[task]),
            data=str(test),
            subsets=sizes.subsets,
            subset_size=sizes.subset_size,
            seed=seed,
            score=SCORES[task],
            settings=get_task(task).settings_type(layers="all"),
            attention_stats=sizes.attention_stats,
            figures=figures,
        )
        study_dir = out_dir / f"study-{task}"
        log(f"ctxvec demo: {task} study of {len(config.models)} checkpoints in {study_dir}")
        studies[task] = run_study(config, study_dir, progress=progress, log=log)
    if ATTENTION_TASK in studies:
        _attention_of_best(studies[ATTENTION_TASK], paths[ATTENTION_TASK][1], log, figures)
    seconds = time.perf_counter() - started
    for task, study in studies.items():
        score = SCORES[task]
        means = study.subsets.groupby("model")[score].mean()
        log(
            f"ctxvec demo: {task} panel of {len(means)} checkpoints, mean {score} per checkpoint "
            f"{means.min():.1f} to {means.max():.1f}; results in {study.out_dir}"
        )
    folders = " and ".join(f"{out_dir}/study-{task}" for task in studies)
    log(
        f"ctxvec demo: done in {seconds:.0f}s. Look at {folders} (subsets.csv, "
        f"correlations.json, the scatter plots); checkpoints and their cards are in {out_dir}/zoo"
    )
    return DemoResult(out_dir, checkpoints, studies, seconds)


def _write_data(task: str, data: Path, sizes: DemoSizes, n_test: int, seed: int) -> tuple:
    """``(train, test)``: the task's benchmark files (image folders for ``image``), the test
    data drawn with ``seed + 1``."""
    return WRITERS[task](data, sizes, n_test, seed)


def _qa_data(data: Path, sizes: DemoSizes, n_test: int, seed: int) -> tuple[Path, Path]:
    return (
        synth.write_qa(data / "qa-train.json", sizes.qa_train, seed),
        synth.write_qa(data / "qa-test.json", n_test, seed + 1),
    )


def _cls_data(data: Path, sizes: DemoSizes, n_test: int, seed: int) -> tuple[Path, Path]:
    return (
        synth.write_cls(data / "cls-train.parquet", _even(sizes.cls_train), seed),
        synth.write_cls(data / "cls-test.parquet", _even(n_test), seed + 1),
    )


def _image_data(data: Path, sizes: DemoSizes, n_test: int, seed: int) -> tuple[Path, Path]:
    return (
        _write_images(data / "image-train", sizes.image_train, seed),
        _write_images(data / "image-test", n_test, seed + 1),
    )


def _audio_data(data: Path, sizes: DemoSizes, n_test: int, seed: int) -> tuple[Path, Path]:
    return (
        synth.write_audio(data / "audio-train.parquet", sizes.audio_train, seed, MEDIA_DIFFICULTY),
        synth.write_audio(data / "audio-test.parquet", n_test, seed + 1, MEDIA_DIFFICULTY),
    )


# The task whose best checkpoint's attention the demo draws (one example of the views).
ATTENTION_TASK = "qa"
# Each task's benchmark writer.
WRITERS = {"qa": _qa_data, "cls": _cls_data, "image": _image_data, "audio": _audio_data}


def _write_images(path: Path, n: int, seed: int) -> Path:
    """The image folder written afresh: a second run's images are the same (same seed), and
    :func:`~ctxvec.offline.synth.write_images` writes only into a new folder."""
    if path.is_dir():
        shutil.rmtree(path)
    return synth.write_images(path, n, seed, MEDIA_DIFFICULTY)


def _attention_of_best(
    study: StudyResult, data: Path, log: Callable[[str], None], figures: tuple[str, ...]
) -> None:
    """The best QA checkpoint's attention on the first answerable test question, as PNG figures
    (when ``figures`` holds png) and the offline viewer under ``study-qa/attention/``; the report
    is rebuilt to show them."""
    best = study.models.sort_values("f1").iloc[-1]["model"]
    spec = next(m for m in study.manifest["models"] if m["name"] == best)
    example = next(e for e in load_qa_dataset(data).examples if e.answers)
    folder = study.out_dir / "attention"
    log(f"ctxvec demo: attention of {best} on question '{example.id}' in {folder}")
    lm = attention.load_for_attention(ModelSpec(spec["path"], best), "qa", "cpu", "float32")
    result = attention.attend(lm, question=example.question, context=example.context)
    if "png" in figures:
        write_attention_figures(result, folder, formats=("png",))
    write_viewer(result, folder / "viewer.html", result.statistics())
    write_report(load_run(study.out_dir))


def _even(n: int) -> int:
    return n + n % 2
