"""Side-by-side throughput of ctxvec's study pass against the baseline's method and a pipeline.

On the same model and the same examples, in interleaved rounds (the order of the methods
rotates each round, so background load hits them alike), this times:

1. ``baseline``: the baseline's method re-implemented faithfully: one example at a time, no
   padding, eager attention with ``output_attentions=True`` and all hidden states, float32,
   argmax start/end, Variance and CSE per example with numpy/scipy (``scipy.stats.zscore``,
   ``scipy.spatial.distance.cdist``) in float64 (the oracle for ctxvec's metrics).
2. ``pipeline`` (QA only): transformers' ``question-answering`` pipeline with ``batch_size``. The
   pinned transformers 5.x removed that pipeline; where it is absent, the 4.x pipeline's
   procedure is re-implemented (examples tokenised one by one with the same windows, batches in
   input order padded to their longest feature, forward without hidden states, per-feature
   softmax and start x end outer-product span search, ``max_answer_len=15``, top-1 over windows).
   It computes no context-vector metrics.
3. ``ctxvec-<dtype>``: ctxvec's study pass through its Python API, cold (no cache): tokenise,
   forward, decode, per-example scores and every metric (Variance, CSE, self- and intra-sentence
   similarity, effective rank, the pooled subset metrics; :func:`ctxvec.predict_qa` /
   :func:`ctxvec.predict_cls`), then the subset scores, for every ``--dtype`` asked;
   ``ctxvec-<dtype>-core`` the same with ``metrics="core"`` (Variance, CSE, self- and
   intra-sentence similarity from one fused kernel; no effective rank, nothing pooled).

Printed per method: examples/s (median over rounds), the ratio to the baseline (median of the
per-round ratios), the useful FLOP rate (forward FLOPs on real tokens / s, counted analytically
from the config) as a percentage of the matmul limit of the same dtype, peak memory above the
starting level, and the largest per-example metric difference from the baseline. The limit
(:func:`common.matmul_limit`) is the best single-threaded matmul rate (``torch.matmul`` and
the packed oneDNN kernel ctxvec runs) over the model's own products at ctxvec's mean batch size
and squares of 1024 and 2048, times the torch threads every method uses; it is measured at the
start of every round and the best measurement of the run counts. A pass above 100% would mean
the limit missed a faster kernel or shape; the script then prints a warning with the excess. A
separate process measures start-up (import, model load, first batch).

    .venv/bin/python benchmarks/bench_study.py --model minilm --task qa --dtype float32 \
        --dtype bfloat16 --n 200 --rounds 3

``--model`` is ``minilm``, ``mpnet`` (all-mpnet-base-v2), ``bert-base``, ``bert-minilm``,
``llama-minilm`` or a checkpoint folder.

``--decoder NAME`` adds ctxvec's pass on a decoder-only model to the same rounds (methods
``decoder-ctxvec-<dtype>[-core]``, the same examples, dtypes and metric sets), counts its useful
FLOPs with the decoder's own formula (gated feed-forward, causal attention:
:func:`common.forward_flops`) and prints, per ctxvec method, the encoder's and the decoder's "% of
limit" and their difference. ``llama-minilm`` is a random Llama-style decoder of MiniLM's size
(the issue's check: within 10 points of MiniLM):

    .venv/bin/python benchmarks/bench_study.py --model minilm --decoder llama-minilm --task qa \
        --n 100 --rounds 2 --metrics core --skip baseline --skip pipeline

Left out: GPU-specific tricks (CUDA graphs, compile); the lead runs the same script with
``--device cuda``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np
import scipy.spatial.distance
import scipy.stats
import torch

MAX_QA_LENGTH = 384
MAX_CLS_LENGTH = 512


# ------------------------------------------------------------------------------ methods


def baseline_metrics(h: np.ndarray) -> tuple[float, float]:
    """Variance and CSE of one example's ``[n_tokens, hidden]`` vectors, as docs/study.md says."""
    h = h.astype(np.float64)
    variance = float(np.var(scipy.stats.zscore(h, axis=1), axis=0).mean())
    cse = float(np.mean(scipy.spatial.distance.cdist(h, h, "cosine") ** 2))
    return variance, cse


def baseline_qa(model, tok, examples, device) -> dict[str, tuple[float, float]]:
    from ctxvec.metrics.scoring import squad_v2_example_scores

    metrics = {}
    with torch.no_grad():
        for e in examples:
            enc = tok(e.question, e.context, return_tensors="pt")
            if enc["input_ids"].shape[1] > MAX_QA_LENGTH:
                continue
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model(**enc, output_hidden_states=True, output_attentions=True)
            start = int(out.start_logits[0].argmax())
            end = int(out.end_logits[0].argmax())
            # The baseline glued word-pieces back into text instead of using offsets.
            pieces = tok.convert_ids_to_tokens(enc["input_ids"][0, start : end + 1].tolist())
            answer = tok.convert_tokens_to_string(pieces) if end >= start else ""
            squad_v2_example_scores(e.answers, answer)
            metrics[e.id] = baseline_metrics(out.hidden_states[-1][0].float().cpu().numpy())
    return metrics


def baseline_cls(model, tok, examples, device) -> dict[str, tuple[float, float]]:
    metrics = {}
    with torch.no_grad():
        for e in examples:
            enc = tok(e.text, return_tensors="pt")
            if enc["input_ids"].shape[1] > MAX_CLS_LENGTH:
                continue
            enc = {k: v.to(device) for k, v in enc.items()}
            out = model(**enc, output_hidden_states=True, output_attentions=True)
            int(out.logits[0].argmax())
            metrics[e.id] = baseline_metrics(out.hidden_states[-1][0].float().cpu().numpy())
    return metrics


def pipeline_qa(model, tok, examples, batch_size: int, device) -> list[str]:
    """The question-answering pipeline, or its 4.x procedure where transformers lacks it."""
    from transformers.pipelines import SUPPORTED_TASKS

    if "question-answering" in SUPPORTED_TASKS:
        from transformers import pipeline

        pipe = pipeline("question-answering", model=model, tokenizer=tok, device=device)
        inputs = [{"question": e.question, "context": e.context} for e in examples]
        return [a["answer"] for a in pipe(inputs, batch_size=batch_size)]
    features = []
    for i, e in enumerate(examples):
        enc = tok(
            e.question,
            e.context,
            truncation="only_second",
            max_length=MAX_QA_LENGTH,
            stride=128,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        for w in range(len(enc["input_ids"])):
            p_mask = np.array([s != 1 for s in enc.sequence_ids(w)])
            p_mask[0] = False  # the pipeline keeps [CLS] for the null answer
            # The pipeline feeds the tokenizer's model inputs: MPNet's have no token_type_ids.
            inputs = {k: enc[k][w] for k in tok.model_input_names}
            features.append((i, inputs, p_mask, enc["offset_mapping"][w]))
    best: dict[int, tuple[float, str]] = {}
    with torch.no_grad():
        for b in range(0, len(features), batch_size):
            chunk = features[b : b + batch_size]
            inputs = tok.pad([f[1] for f in chunk], return_tensors="pt")
            inputs = {k: v.to(device) for k, v in inputs.items()}
            out = model(**inputs)
            starts = out.start_logits.float().cpu().numpy()
            ends = out.end_logits.float().cpu().numpy()
            for row, (i, feat, p_mask, offsets) in enumerate(chunk):
                n = len(feat["input_ids"])
                start, end = (
                    _softmax_masked(starts[row, :n], p_mask),
                    _softmax_masked(ends[row, :n], p_mask),
                )
                start[0] = end[0] = 0.0
                outer = np.tril(np.triu(np.outer(start, end)), 15 - 1)
                s, t = np.unravel_index(int(np.argmax(outer)), outer.shape)
                score = float(outer[s, t])
                text = examples[i].context[offsets[s][0] : offsets[t][1]]
                if i not in best or score > best[i][0]:
                    best[i] = (score, text)
    return [best[i][1] for i in range(len(examples))]


def _softmax_masked(logits: np.ndarray, p_mask: np.ndarray) -> np.ndarray:
    x = np.where(p_mask, -10000.0, logits)
    x = np.exp(x - x.max())
    return x / x.sum()


def ctxvec_qa(lm, examples, batch_size: int, metrics: str) -> dict[str, tuple[float, float]]:
    from ctxvec import QASettings, predict_qa
    from ctxvec.metrics.scoring import squad_v2_scores

    settings = QASettings(batch_size=batch_size, metrics=metrics)
    rows = predict_qa(lm, examples, settings, progress=False).rows
    squad_v2_scores(
        dict(zip(rows["id"], rows["gold_answers"], strict=True)),
        dict(zip(rows["id"], rows["prediction"], strict=True)),
        dict(zip(rows["id"], rows["na_prob"], strict=True)),
    )
    return {i: (v, c) for i, v, c in zip(rows["id"], rows["variance"], rows["cse"], strict=True)}


def ctxvec_cls(lm, dataset, batch_size: int, metrics: str) -> dict[str, tuple[float, float]]:
    from ctxvec import ClsSettings, match_labels, predict_cls
    from ctxvec.metrics.scoring import classification_scores

    labels = match_labels(lm.model.config.id2label, dataset)
    settings = ClsSettings(batch_size=batch_size, metrics=metrics)
    rows = predict_cls(lm, dataset.examples, labels, settings, progress=False).rows
    classification_scores(rows["label"].tolist(), rows["prediction"].tolist(), labels.positive)
    return {i: (v, c) for i, v, c in zip(rows["id"], rows["variance"], rows["cse"], strict=True)}


# ------------------------------------------------------------------------------ start-up

STARTUP_CODE = """
import json, sys, time
t0 = time.perf_counter()
import ctxvec
from ctxvec import ModelSpec, get_task, load_model, resolve_model
t1 = time.perf_counter()
args = json.loads(sys.argv[1])
sys.path.insert(0, args["bench_dir"])
import common
path, untrained = common.model_dir(args["model"], args["task"], common.workdir())
head = get_task(args["task"]).head
lm = load_model(resolve_model(ModelSpec(path)), head, args["device"], args["dtype"],
                allow_untrained_head=untrained)
t2 = time.perf_counter()
if args["task"] == "qa":
    examples, _ = common.qa_examples(args["batch_size"], 0, common.Path(args["data_dir"]))
    ctxvec.predict_qa(lm, examples[: args["batch_size"]],
                      ctxvec.QASettings(batch_size=args["batch_size"]), progress=False)
else:
    data, _ = common.cls_examples(args["batch_size"], 0, common.Path(args["data_dir"]))
    data.examples = data.examples[: args["batch_size"]]
    labels = ctxvec.match_labels(lm.model.config.id2label, data)
    ctxvec.predict_cls(lm, data.examples, labels,
                       ctxvec.ClsSettings(batch_size=args["batch_size"]), progress=False)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_batch_s": t3 - t2}))
"""


def startup(args: argparse.Namespace, dtype: str) -> dict[str, float]:
    payload = {
        "bench_dir": str(Path(__file__).resolve().parent),
        "model": args.model,
        "task": args.task,
        "device": args.device,
        "dtype": dtype,
        "batch_size": args.batch_size,
        "data_dir": str(args.data_dir),
    }
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_CODE, json.dumps(payload)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="minilm",
        help="minilm, mpnet, bert-base, bert-minilm, llama-minilm or a directory",
    )
    parser.add_argument(
        "--decoder",
        help="also time ctxvec's pass on this decoder (llama-minilm or a directory) side by side",
    )
    parser.add_argument("--task", choices=["qa", "cls"], default="qa")
    parser.add_argument("--n", type=int, default=200, help="examples per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--dtype", action="append", choices=list(common.DTYPES), help="ctxvec dtype(s)"
    )
    parser.add_argument(
        "--metrics",
        action="append",
        choices=["all", "core"],
        help="ctxvec metric set(s) [default: both]",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--skip", action="append", default=[], help="methods to leave out")
    parser.add_argument("--data-dir", type=Path, default=common.DATA_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    dtypes = args.dtype or ["float32"]
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from ctxvec import ModelSpec, get_task, load_model, resolve_model

    transformers.logging.set_verbosity_error()
    device = torch.device(args.device)
    path, untrained = common.model_dir(args.model, args.task, common.workdir())
    lms = {
        d: load_model(
            resolve_model(ModelSpec(path)), get_task(args.task).head, args.device, d, untrained
        )
        for d in dtypes
    }
    any_lm = next(iter(lms.values()))
    tok = any_lm.tokenizer
    # The baseline runs the very same weights (untrained heads included) on the eager path.
    reference = load_model(
        resolve_model(ModelSpec(path)), get_task(args.task).head, args.device, "float32", untrained
    )
    base_model = copy.deepcopy(reference.model)
    base_model.set_attn_implementation("eager")
    decoder_lms = {}
    if args.decoder:
        dec_path, dec_untrained = common.model_dir(args.decoder, args.task, common.workdir())
        decoder_lms = {
            d: load_model(
                resolve_model(ModelSpec(dec_path)),
                get_task(args.task).head,
                args.device,
                d,
                dec_untrained,
            )
            for d in dtypes
        }

    limit = MAX_QA_LENGTH if args.task == "qa" else MAX_CLS_LENGTH
    if args.task == "qa":
        pool, source = common.qa_examples(args.n, args.seed, args.data_dir)
    else:
        dataset, source = common.cls_examples(args.n, args.seed, args.data_dir)
        pool = dataset.examples

    def lengths_of(tokenizer) -> list[int]:
        if args.task == "qa":
            pairs = tokenizer([e.question for e in pool], [e.context for e in pool])
            return [len(x) for x in pairs["input_ids"]]
        return [len(x) for x in tokenizer([e.text for e in pool])["input_ids"]]

    lengths = lengths_of(tok)
    # Same examples for every method: those the baseline does not skip (and that fit the
    # decoder whole, so that both models see every example in one window).
    dec_lengths = lengths_of(next(iter(decoder_lms.values())).tokenizer) if decoder_lms else lengths
    fits = zip(lengths, dec_lengths, strict=True)
    keep = [i for i, (n, m) in enumerate(fits) if n <= limit and m <= limit][: args.n]
    examples = [pool[i] for i in keep]
    n_tokens = [lengths[i] for i in keep]
    useful = sum(common.forward_flops(reference.model.config, n) for n in n_tokens)
    dec_tokens = [dec_lengths[i] for i in keep]
    dec_config = next(iter(decoder_lms.values())).model.config if decoder_lms else None
    dec_useful = sum(common.forward_flops(dec_config, n) for n in dec_tokens) if dec_config else 0
    if args.task == "cls":
        dataset.examples = examples

    methods = {"baseline": lambda: baseline_qa(base_model, tok, examples, device)}
    if args.task == "cls":
        methods["baseline"] = lambda: baseline_cls(base_model, tok, examples, device)
    if args.task == "qa":
        methods["pipeline"] = lambda: pipeline_qa(
            reference.model, tok, examples, args.batch_size, device
        )
    method_dtype = dict.fromkeys(methods, "float32")
    for d, lm in lms.items():
        for metrics in args.metrics or ["all", "core"]:
            name = f"ctxvec-{d}" + ("-core" if metrics == "core" else "")
            run = ctxvec_qa if args.task == "qa" else ctxvec_cls
            data = examples if args.task == "qa" else dataset
            methods[name] = lambda run=run, lm=lm, data=data, m=metrics: run(
                lm, data, args.batch_size, m
            )
            method_dtype[name] = d
            if d in decoder_lms:
                methods["decoder-" + name] = lambda run=run, d=d, data=data, m=metrics: run(
                    decoder_lms[d], data, args.batch_size, m
                )
                method_dtype["decoder-" + name] = d
    methods = {k: v for k, v in methods.items() if k not in args.skip}
    useful_of = {k: dec_useful if k.startswith("decoder-") else useful for k in methods}
    width = max(21, *map(len, methods))  # name column width

    print(
        f"# {args.model} {args.task} on {source}: {len(examples)} examples, "
        f"mean {np.mean(n_tokens):.0f} tokens, {useful / len(examples) / 1e9:.2f} GFLOP/example"
    )
    batch_tokens, padding = common.ctxvec_batches(n_tokens, args.batch_size)
    print(
        f"# ctxvec batches carry {padding:.1%} padding tokens, {batch_tokens} tokens per batch "
        "on average"
    )
    # The limit's model-shaped products, per model: the best of all of them is the limit.
    shapes = [(reference.model.config, batch_tokens)]
    if dec_config is not None:
        dec_batch, dec_padding = common.ctxvec_batches(dec_tokens, args.batch_size)
        shapes.append((dec_config, dec_batch))
        print(
            f"# decoder {args.decoder}: mean {np.mean(dec_tokens):.0f} tokens, "
            f"{dec_useful / len(examples) / 1e9:.2f} GFLOP/example, {dec_padding:.1%} padding "
            f"tokens, {dec_batch} tokens per batch on average"
        )
    threads = torch.get_num_threads()
    print(
        f"# device {device}, torch threads {threads}, "
        f"batch {args.batch_size}, rounds {args.rounds}, load avg before: {common.load_avg()}"
    )

    names = list(methods)
    seconds: dict[str, list[float]] = {k: [] for k in names}
    peaks: dict[str, int] = dict.fromkeys(names, 0)
    results: dict[str, dict] = {}
    used = sorted({method_dtype[k] for k in names})
    measured: dict[str, list[common.MatmulLimit]] = {d: [] for d in used}
    for r in range(args.rounds):
        for dt in used:
            lim = max(
                (
                    common.matmul_limit(device, common.DTYPES[dt], config, tokens, threads)
                    for config, tokens in shapes
                ),
                key=lambda lim: lim.rate,
            )
            measured[dt].append(lim)
            print(f"  round {r + 1} {lim.describe()}", flush=True)
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t = common.timed(methods[name], device)
            seconds[name].append(t.seconds)
            peaks[name] = max(peaks[name], t.peak_bytes)
            results[name] = t.result
            print(
                f"  round {r + 1} {name:<{width}} {len(examples) / t.seconds:8.2f} ex/s  "
                f"useful {useful_of[name] / t.seconds / 1e9:6.1f} GFLOP/s  "
                f"load {common.load_avg()}",
                flush=True,
            )
    # The fastest measurement of the run is the limit: a slower one was load, not hardware.
    limits = {d: max(v, key=lambda lim: lim.rate) for d, v in measured.items()}
    fraction = {
        k: [useful_of[k] / s / limits[method_dtype[k]].rate for s in seconds[k]] for k in names
    }

    report = {
        "model": args.model,
        "task": args.task,
        "source": source,
        "n": len(examples),
        "mean_tokens": float(np.mean(n_tokens)),
        "decoder": args.decoder,
        "decoder_mean_tokens": float(np.mean(dec_tokens)) if dec_config else None,
        "device": str(device),
        "threads": threads,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "batch_tokens": batch_tokens,
        "limits": {
            d: {
                "gflops": lim.rate / 1e9,
                "per_unit_gflops": lim.per_unit / 1e9,
                "units": lim.units,
                "kernel": lim.kernel,
                "shape": lim.shape,
                "per_unit_gflops_rounds": [m.per_unit / 1e9 for m in measured[d]],
            }
            for d, lim in limits.items()
        },
        "methods": {},
    }
    print(
        f"\n{'method':<{width}} {'ex/s':>8} {'x baseline':>10} {'% of limit':>10} "
        f"{'peak MiB':>9} {'max |dVar|':>11} {'max |dCSE|':>11}  per round: % of limit"
    )
    base = results.get("baseline")
    for name in names:
        eps = [len(examples) / s for s in seconds[name]]
        # The baseline ran the encoder: a decoder's ratio or metric differences would compare
        # two models.
        decoder = name.startswith("decoder-")
        ratio = (
            statistics.median(
                b / s for b, s in zip(seconds["baseline"], seconds[name], strict=True)
            )
            if "baseline" in seconds and not decoder
            else float("nan")
        )
        dvar = dcse = float("nan")
        ours = isinstance(results[name], dict) and name != "baseline" and not decoder
        if base is not None and ours:
            common_ids = base.keys() & results[name].keys()
            dvar = max(abs(base[i][0] - results[name][i][0]) for i in common_ids)
            dcse = max(abs(base[i][1] - results[name][i][1]) for i in common_ids)
        row = {
            "examples_per_s": statistics.median(eps),
            "examples_per_s_rounds": eps,
            "x_baseline": ratio,
            "limit_fraction": statistics.median(fraction[name]),
            "limit_fraction_rounds": fraction[name],
            "peak_mib": peaks[name] / 2**20,
            "max_abs_diff_variance": dvar,
            "max_abs_diff_cse": dcse,
        }
        report["methods"][name] = row
        print(
            f"{name:<{width}} {row['examples_per_s']:8.2f} {ratio:10.2f} "
            f"{row['limit_fraction']:10.1%} {row['peak_mib']:9.0f} {dvar:11.2e} {dcse:11.2e}  "
            + ", ".join(f"{f:.1%}" for f in fraction[name])
        )
    unit = "per-core" if device.type == "cpu" else "device"
    for d, lim in limits.items():
        rounds = ", ".join(f"{m.per_unit / 1e9:.0f}" for m in measured[d])
        print(f"{lim.describe()}; {unit} GFLOP/s per round: {rounds}")
    for name in names:
        if not name.startswith("decoder-") or name.removeprefix("decoder-") not in fraction:
            continue
        enc = report["methods"][name.removeprefix("decoder-")]["limit_fraction"]
        dec = report["methods"][name]["limit_fraction"]
        gap = 100 * (dec - enc)
        report.setdefault("decoder_vs_encoder", {})[name.removeprefix("decoder-")] = {
            "encoder": enc,
            "decoder": dec,
            "points": gap,
        }
        print(
            f"decoder vs encoder, {name.removeprefix('decoder-')}: % of limit {enc:.1%} "
            f"({args.model}) and {dec:.1%} ({args.decoder}), difference {gap:+.1f} points "
            f"({'within' if gap >= -10 else 'NOT within'} 10 points below)"
        )
    for name in names:
        for r, f in enumerate(fraction[name]):
            if f > 1:
                print(
                    f"WARNING: {name} beat the {method_dtype[name]} limit in round {r + 1}: "
                    f"{f:.1%} of it, {f - 1:.1%} above; the limit missed a faster kernel or "
                    "shape, or load slowed every measurement of it"
                )
    for d in dtypes:
        s = startup(args, d)
        report.setdefault("startup", {})[d] = s
        # The full pass where it ran, else the --metrics core one (--skip may leave either out).
        ran = [
            report["methods"][m]
            for m in (f"ctxvec-{d}", f"ctxvec-{d}-core")
            if m in report["methods"]
        ]
        work = len(examples) / ran[0]["examples_per_s"] if ran else float("nan")
        print(
            f"start-up ctxvec-{d}: import {s['import_s']:.2f} s, model load "
            f"{s['load_s']:.2f} s, first batch {s['first_batch_s']:.2f} s "
            f"(the {len(examples)}-example pass takes {work:.1f} s)"
        )
    print(f"# load avg after: {common.load_avg()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"# total {time.perf_counter() - start:.0f} s")
