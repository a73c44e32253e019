"""How the cost of ctxvec's study pass grows: examples, sequence length, layers analysed.

Three sweeps, each printed as a Markdown table (seconds, examples/s, peak memory above the
starting level, and the useful FLOP rate as a percentage of the matmul limit measured just
before the cell with the cell's own batch shapes, :func:`common.matmul_limit`; each table is
followed by its cells' limits and a warning for any cell above 100%):

1. number of examples: :func:`ctxvec.predict_qa` on real SQuAD 2.0 pairs (or generated ones);
2. sequence length: :func:`ctxvec.predict_cls` on IMDB reviews (or generated texts) truncated to
   exactly L tokens (only texts at least L tokens long are used);
3. layers analysed: one forward with all hidden states, then Variance + CSE on k layers with
   :func:`ctxvec.metrics.context_vector_metrics`, batched and bucketed as ctxvec does.

    .venv/bin/python benchmarks/scaling.py --model minilm --dtype float32

Left out: repeated rounds (each cell runs once after a warm-up; see bench_study.py for the
interleaved comparison) and anything beyond the forward pass and the metrics.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", help="minilm, mpnet, bert-base or a directory")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(common.DTYPES), default="float32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--examples", default="50,100,200,400")
    parser.add_argument("--lengths", default="64,128,256,512")
    parser.add_argument("--length-examples", type=int, default=48)
    parser.add_argument("--layers", default="1,2,4,all")
    parser.add_argument("--data-dir", type=Path, default=common.DATA_DIR)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from ctxvec import (
        ClsSettings,
        ModelSpec,
        QASettings,
        load_model,
        match_labels,
        predict_cls,
        predict_qa,
        resolve_model,
    )
    from ctxvec.inference.batching import collate, length_sorted_batches
    from ctxvec.metrics.context import context_vector_metrics
    from ctxvec.tasks import get_task

    transformers.logging.set_verbosity_error()
    device = torch.device(args.device)
    dtype = common.DTYPES[args.dtype]

    def load(task: str):
        path, untrained = common.model_dir(args.model, task, common.workdir())
        return load_model(
            resolve_model(ModelSpec(path)), get_task(task).head, args.device, args.dtype, untrained
        )

    limits: list[tuple[str, common.MatmulLimit, float]] = []

    def measure(
        fn: Callable[[], Any], flops: float, config: Any, lengths: list[int], cell: str
    ) -> tuple[float, float, float]:
        """Seconds, peak MiB and the share of the limit measured right before, for one cell."""
        tokens, _ = common.ctxvec_batches(lengths, args.batch_size)
        limit = common.matmul_limit(device, dtype, config, tokens, torch.get_num_threads())
        t = common.timed(fn, device)
        fraction = flops / t.seconds / limit.rate
        limits.append((cell, limit, fraction))
        return t.seconds, t.peak_bytes / 2**20, fraction

    def print_limits() -> None:
        """The limits behind the table just printed, and a warning for any cell that beat one."""
        print()
        for cell, limit, fraction in limits:
            print(f"- {cell}: {limit.describe()}")
            if fraction > 1:
                print(
                    f"  WARNING: {cell} beat its limit: {fraction:.1%} of it, "
                    f"{fraction - 1:.1%} above"
                )
        limits.clear()

    print(
        f"# {args.model} {args.dtype} on {device}, torch threads {torch.get_num_threads()}, "
        f"batch {args.batch_size}, load avg {common.load_avg()}"
    )

    # 1. examples
    lm = load("qa")
    config = lm.model.config
    sizes = [int(x) for x in args.examples.split(",")]
    pool, source = common.qa_examples(max(sizes), 0, args.data_dir)
    lengths = [
        min(len(x), 384)
        for x in lm.tokenizer([e.question for e in pool], [e.context for e in pool])["input_ids"]
    ]
    settings = QASettings(batch_size=args.batch_size)
    predict_qa(lm, pool[: args.batch_size], settings, progress=False)  # warm-up
    print(f"\n## Examples ({source}, QA)\n")
    print(row(["examples", "mean tokens", "seconds", "examples/s", "peak MiB", "% of limit"]))
    print(row(["---"] * 6))
    for n in sizes:
        flops = sum(common.forward_flops(config, k) for k in lengths[:n])
        s, mib, frac = measure(
            lambda n=n: predict_qa(lm, pool[:n], settings, progress=False),
            flops,
            config,
            lengths[:n],
            f"{n} examples",
        )
        print(
            row(
                [
                    str(n),
                    f"{np.mean(lengths[:n]):.0f}",
                    f"{s:.2f}",
                    f"{n / s:.1f}",
                    f"{mib:.0f}",
                    f"{frac:.0%}",
                ]
            ),
            flush=True,
        )
    print_limits()

    # 2. sequence length
    lm = load("cls")
    config = lm.model.config
    lens = [int(x) for x in args.lengths.split(",")]
    data, source = common.cls_examples(8 * args.length_examples, 1, args.data_dir)
    full = [len(x) for x in lm.tokenizer([e.text for e in data.examples])["input_ids"]]
    print(f"\n## Sequence length ({source}, classification, texts truncated to L tokens)\n")
    print(row(["L", "examples", "seconds", "ms/example", "peak MiB", "% of limit"]))
    print(row(["---"] * 6))
    for L in lens:
        keep = [e for e, n in zip(data.examples, full, strict=True) if n >= L]
        keep = keep[: args.length_examples]
        if not keep:
            print(row([str(L), "0", "-", "-", "-", "no text this long"]))
            continue
        subset = type(data)(keep, data.source)
        labels = match_labels(config.id2label, subset)
        cls_settings = ClsSettings(max_length=L, batch_size=args.batch_size)
        predict_cls(lm, keep[:2], labels, cls_settings, progress=False)  # warm-up
        flops = len(keep) * common.forward_flops(config, L)
        s, mib, frac = measure(
            lambda keep=keep, labels=labels, cs=cls_settings: predict_cls(
                lm, keep, labels, cs, progress=False
            ),
            flops,
            config,
            [L] * len(keep),
            f"L = {L}",
        )
        print(
            row(
                [
                    str(L),
                    str(len(keep)),
                    f"{s:.2f}",
                    f"{1000 * s / len(keep):.1f}",
                    f"{mib:.0f}",
                    f"{frac:.0%}",
                ]
            ),
            flush=True,
        )
    print_limits()

    # 3. layers analysed
    lm = load("qa")
    config = lm.model.config
    n = sizes[min(1, len(sizes) - 1)]
    enc = lm.tokenizer(
        [e.question for e in pool[:n]],
        [e.context for e in pool[:n]],
        truncation="only_second",
        max_length=384,
        return_special_tokens_mask=True,
    )
    names = [k for k in lm.input_names if k != "attention_mask"] + ["special_tokens_mask"]
    features = [{k: enc[k][i] for k in names} for i in range(n)]
    batches = length_sorted_batches([len(f["input_ids"]) for f in features], args.batch_size)
    pads = {"input_ids": lm.tokenizer.pad_token_id or 0}
    n_states = config.num_hidden_layers + 1

    def analyse(k: int) -> tuple[float, float]:
        forward = metrics = 0.0
        with torch.inference_mode():
            for idx in batches:
                inputs, _ = collate([features[i] for i in idx], lm.input_names, pads, "right")
                inputs = {key: v.to(device) for key, v in inputs.items()}
                t0 = time.perf_counter()
                out = lm.model(**inputs, output_hidden_states=True)
                mask = inputs["attention_mask"].bool()
                common.sync(device)
                t1 = time.perf_counter()
                for layer in range(n_states - k, n_states):
                    context_vector_metrics(out.hidden_states[layer], mask)
                common.sync(device)
                forward, metrics = forward + t1 - t0, metrics + time.perf_counter() - t1
        return forward, metrics

    print(
        f"\n## Layers analysed ({n} SQuAD pairs, one forward with all hidden states, then "
        "Variance + CSE on k layers; one thread, batches one at a time, so that shares are not "
        "blurred by waits at thread barriers)\n"
    )
    print(row(["layers", "forward s", "metrics s", "metrics share", "peak MiB"]))
    print(row(["---"] * 5))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    analyse(1)  # warm-up
    for k in args.layers.split(","):
        k_int = n_states if k == "all" else int(k)
        t = common.timed(lambda k_int=k_int: analyse(k_int), device)
        forward, metrics = t.result
        print(
            row(
                [
                    str(k_int),
                    f"{forward:.2f}",
                    f"{metrics:.3f}",
                    f"{metrics / (forward + metrics):.1%}",
                    f"{t.peak_bytes / 2**20:.0f}",
                ]
            ),
            flush=True,
        )
    torch.set_num_threads(threads)
    print(f"\n# load avg after: {common.load_avg()}")


if __name__ == "__main__":
    main()
