"""Ethayarajh's anisotropy check, layer by layer: the random-token baseline of encoders.

Ethayarajh (2019, "How Contextual are Contextualized Word Representations?", EMNLP) found that
contextual representations are anisotropic in every layer: for BERT-base, the mean cosine
between the representations of random words from different contexts rises from about 0.1 at the
input layer to about 0.6-0.7 in the upper layers. This tool computes the same quantity with
ctxvec's own implementation (:func:`ctxvec.metrics.geometry.random_token_baseline`: mean cosine
of 10,000 random pairs of tokens from different examples) at every layer (0 = the embeddings) of
each checkpoint given, on the same texts: real IMDB test reviews (a seeded sample), cut at
``--max-length`` tokens, special tokens and padding left out.

    .venv/bin/python tools/anisotropy.py minilm mpnet runs/real-panel/cls/mpnet-step150 \\
        --out runs/anisotropy.csv

``minilm`` and ``mpnet`` name the published pretrained encoders (the installed MiniLM package,
the fetched MPNet folder); anything else is a checkpoint folder, whose encoder alone is used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoModel, AutoTokenizer

from ctxvec import files
from ctxvec.errors import CtxvecError
from ctxvec.loading.panels import minilm_dir, mpnet_dir
from ctxvec.metrics.geometry import random_token_baseline

IMDB_TEST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imdb" / "test.parquet"


def folder(name: str) -> Path:
    return {"minilm": minilm_dir, "mpnet": mpnet_dir}.get(name, lambda: Path(name))()


@torch.inference_mode()
def baseline_by_layer(path: Path, texts: list[str], max_length: int, batch: int = 16) -> list:
    """``[n_layers + 1]`` random-token baselines, from the embeddings to the last layer."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    layers: list[list[np.ndarray]] = []
    owners: list[np.ndarray] = []
    for start in range(0, len(texts), batch):
        enc = tokenizer(
            texts[start : start + batch], truncation=True, max_length=max_length, padding=True,
            return_tensors="pt", return_special_tokens_mask=True,
        )  # fmt: skip
        keep = (enc.pop("special_tokens_mask") == 0) & (enc["attention_mask"] == 1)
        out = model(**enc, output_hidden_states=True)
        rows = torch.arange(len(keep))[:, None].expand_as(keep)[keep] + start
        owners.append(rows.numpy())
        for k, hidden in enumerate(out.hidden_states):
            if len(layers) <= k:
                layers.append([])
            layers[k].append(hidden[keep].float().numpy())
    who = np.concatenate(owners)
    return [random_token_baseline(np.concatenate(h), who) for h in layers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="minilm, mpnet or checkpoint folders")
    parser.add_argument("--n", type=int, default=200, help="IMDB test reviews")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/anisotropy.csv"))
    args = parser.parse_args()
    if not IMDB_TEST.is_file():
        sys.exit(f"{IMDB_TEST} is missing; this tool needs ../shared/data beside the project")
    reviews = pd.read_parquet(IMDB_TEST, columns=["text"])
    texts = reviews["text"].sample(args.n, random_state=args.seed).tolist()
    rows = []
    for name in args.models:
        try:
            path = folder(name)
        except CtxvecError as e:
            sys.exit(f"tools/anisotropy.py: {e}")
        values = baseline_by_layer(path, texts, args.max_length)
        rows += [{"model": name, "layer": k, "random_baseline": v} for k, v in enumerate(values)]
        print(f"{name}: " + " ".join(f"{v:.2f}" for v in values), flush=True)
    files.write_csv(args.out, pd.DataFrame(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
