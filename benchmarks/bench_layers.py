"""The cost of the per-layer analysis: ctxvec's study pass with and without ``--layers all``.

Times, on the same model and examples, in interleaved rounds (the order alternates so background
load falls on both): the pass at the last layer only, and the pass that also measures every
layer (embeddings included) from the same forward. Prints examples/s and the extra time of
``--layers all`` in percent (median over rounds, and per round). The same pass also reports
the per-example metrics beyond Variance and CSE in both settings; this script measures nothing
else. Usage::

    .venv/bin/python benchmarks/bench_layers.py --model minilm --task qa --n 200 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from common import DATA_DIR, cls_examples, load_avg, model_dir, qa_examples, timed, workdir

from ctxvec import ClsSettings, ModelSpec, QASettings, load_model, match_labels, resolve_model
from ctxvec.tasks import get_task
from ctxvec.tasks.classify import predict_cls
from ctxvec.tasks.qa import predict_qa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", help="minilm, mpnet, bert-base or a directory")
    parser.add_argument("--task", choices=["qa", "cls"], default="qa")
    parser.add_argument("--n", type=int, default=200, help="examples per pass")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args()

    path, untrained = model_dir(args.model, args.task, workdir())
    head = get_task(args.task).head
    lm = load_model(resolve_model(ModelSpec(path, args.model)), head, args.device,
                    args.dtype, allow_untrained_head=untrained)  # fmt: skip
    if args.task == "qa":
        examples, source = qa_examples(args.n, 0, args.data_dir)
        examples = examples[: args.n]

        def run(layers: str) -> None:
            settings = QASettings(batch_size=args.batch_size, layers=layers)
            predict_qa(lm, examples, settings, progress=False)
    else:
        dataset, source = cls_examples(args.n, 0, args.data_dir)
        examples = dataset.examples[: args.n]
        labels = match_labels(lm.model.config.id2label, dataset)

        def run(layers: str) -> None:
            settings = ClsSettings(batch_size=args.batch_size, layers=layers)
            predict_cls(lm, examples, labels, settings, progress=False)

    layers = lm.model.config.num_hidden_layers + 1
    print(
        f"{args.model} ({layers} hidden-state layers), {args.task}, {len(examples)} examples "
        f"from {source}; {args.device} {args.dtype}, torch threads {torch.get_num_threads()}"
    )
    run("")  # warm-up: first-call allocations and kernel selection
    times: dict[str, list[float]] = {"last layer": [], "--layers all": []}
    for r in range(args.rounds):
        order = ["", "all"] if r % 2 == 0 else ["all", ""]
        for spec in order:
            times["--layers all" if spec else "last layer"].append(
                timed(lambda spec=spec: run(spec), lm.device).seconds
            )
        print(f"round {r + 1}: load average {load_avg()}")
    base, every = times["last layer"], times["--layers all"]
    extra = [100 * (b / a - 1) for a, b in zip(base, every, strict=True)]
    print("\n| setting | examples/s (median) | per round: seconds |")
    print("| --- | --- | --- |")
    for name, values in times.items():
        rate = len(examples) / statistics.median(values)
        print(f"| {name} | {rate:.1f} | {', '.join(f'{v:.2f}' for v in values)} |")
    print(
        f"\nextra time of --layers all: median {statistics.median(extra):.1f}% "
        f"(per round: {', '.join(f'{e:.1f}%' for e in extra)})"
    )


if __name__ == "__main__":
    main()
