"""Benchmark: encoders on the same generated traffic, speed and detection quality.

    .venv/bin/targeting distill --out models/static-minilm          # once, ~2 minutes
    .venv/bin/python bench/encoders.py --accounts 1000 --seed 0 --speed-requests 4000 --quality

Speed: prompts/s over the first ``--speed-requests`` requests of the traffic (arrival
order, duplicates included), counted per request so every line is comparable:

- ``naive``: ``SentenceTransformer(model).encode(batch)`` over the requests in arrival
  order, 32 at a time (the library's default batch), the model's own 256-word-piece limit,
  the library's default threads; every request embedded, duplicates included;
- ``default``: what the pipeline does with all-MiniLM-L6-v2: distinct prompts only,
  length-sorted batches of 64, 128 word pieces, one thread per core, on ONNX Runtime
  (``[embed] backend = "onnx"``, the model exported once and cached);
- ``default-int8``: the same with int8 per-channel weights (``[embed] int8 = true``);
- ``torch`` / ``torch-int8``: the same on PyTorch (``backend = "torch"``; int8 = dynamic
  quantisation of the linear layers);
- ``static``: the distilled static model (``targeting distill``), NumPy bag of word pieces.

``--traffic FILE`` times the prompts of a requests file (e.g. an external set's
``requests.parquet``) instead of generated ones. Each line also gives CPU seconds per
prompt (steadier than wall time on a shared machine) and the cosine of its vectors to
PyTorch fp32's on the same prompts (mean and minimum).

Quality (``--quality``): the whole pipeline (``targeting run``) on the same traffic with
each pipeline encoder in a fresh workspace, then the evaluation against the labels:
AUROC, AUPRC, recall at 1% false-positive rate, area accuracy, campaign ARI.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from targeting import workspace as W
from targeting.config import EmbedConfig, load_settings
from targeting.embed import embed_unique, load_encoder, resolve_model_path, text_hash
from targeting.evaluate import evaluate
from targeting.jobs import run
from targeting.simulate import SimConfig, simulate, write_traffic

NAIVE_BATCH = 32  # sentence-transformers' default batch size
ENCODERS = ("naive", "torch", "default", "default-int8", "torch-int8", "static")
CONFIGS = {"torch": {"backend": "torch"}, "default": {}, "default-int8": {"int8": True},
           "torch-int8": {"backend": "torch", "int8": True}}


def _embed_config(name: str, static_model: Path) -> EmbedConfig:
    if name == "static":
        return EmbedConfig(model=str(static_model), progress=False)
    return EmbedConfig(progress=False, **CONFIGS[name])


def naive_rate(prompts: list[str]) -> float:
    """Requests/s of the plain sentence-transformers loop over requests in arrival order."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path("default")), device="cpu", local_files_only=True)
    start = time.perf_counter()
    for i in range(0, len(prompts), NAIVE_BATCH):
        model.encode(prompts[i : i + NAIVE_BATCH], show_progress_bar=False)
    return len(prompts) / (time.perf_counter() - start)


def pipeline_rate(name: str, prompts: list[str], static_model: Path) -> dict:
    """Requests/s, distinct prompts/s (wall and per CPU second), load seconds and the vectors
    of a pipeline encoder on ``prompts``."""
    t0 = time.perf_counter()
    encoder = load_encoder(_embed_config(name, static_model))
    load_s = time.perf_counter() - t0
    hashes = [text_hash(p) for p in prompts]
    encoder.encode(prompts[:16])  # first-call set-up is not throughput
    start, cpu = time.perf_counter(), time.process_time()
    new, vectors = embed_unique(hashes, prompts, set(), encoder.encode)
    took, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return {"requests_per_s": len(prompts) / took, "distinct_per_s": len(new) / took,
            "distinct_per_cpu_s": len(new) / cpu_s, "load_s": load_s, "vectors": vectors}


def quality(name: str, traffic: Path, static_model: Path, tmp: Path) -> dict:
    overrides = {"embed": {"progress": False, **CONFIGS.get(name, {})}}
    if name == "static":
        overrides["embed"]["model"] = str(static_model)
    settings = load_settings(overrides=overrides, environ={})
    ws = tmp / f"ws-{name}"
    start = time.perf_counter()
    result = run([traffic / "requests.parquet"], ws, settings)
    wall = time.perf_counter() - start
    wsp = W.open_workspace(ws)
    metrics = evaluate(
        W.read_latest_scores(wsp).to_pandas(), pd.read_parquet(traffic / "labels.parquet"),
        W.read_assignments(wsp, ["request_id", "area"]).to_pandas(),
    )
    shutil.rmtree(ws, ignore_errors=True)
    return {"wall_s": round(wall, 1), "timings": result.timings, **{
        k: metrics.get(k) for k in ("auroc", "auprc", "recall_at_1pct_fpr", "flag_fpr")
    }, "area_accuracy": metrics.get("dominant_area_accuracy"),
        "request_area_accuracy": metrics.get("request_area_accuracy"),
        "campaign_ari": metrics.get("campaign_ari"), "metrics": metrics}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-requests", type=int, default=4000, help="requests timed per encoder")
    parser.add_argument("--static-model", type=Path, default=Path("models/static-minilm"))
    parser.add_argument("--encoders", default=",".join(ENCODERS), help=f"comma list of {', '.join(ENCODERS)}")
    parser.add_argument("--quality", action="store_true", help="also run the pipeline per encoder and evaluate")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--traffic", type=Path, default=None, help="time the prompts of this requests file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    unknown = set(names) - set(ENCODERS)
    if unknown:
        parser.error(f"unknown encoders: {', '.join(sorted(unknown))}")
    if "static" in names and not (args.static_model / "modules.json").exists():
        parser.error(f"{args.static_model} is not a model: run `targeting distill --out {args.static_model}` first")

    requests, labels = simulate(SimConfig(seed=args.seed, n_accounts=args.accounts))
    timed = pd.read_parquet(args.traffic, columns=["prompt"]) if args.traffic else requests
    prompts = timed["prompt"].tolist()[: args.speed_requests]
    cores = os.cpu_count() or 1
    print(f"traffic: {len(requests):,} requests, {requests['prompt'].nunique():,} distinct prompts "
          f"({args.accounts:,} accounts, seed {args.seed}); timing {len(prompts):,} requests "
          f"of {args.traffic or 'that traffic'} "
          f"({len(set(prompts)):,} distinct); {cores} cores")
    figures: dict = {"requests": len(requests), "timed_requests": len(prompts),
                     "timed_distinct": len(set(prompts)), "cores": cores, "encoders": {}}
    naive, reference = None, None
    for name in names:
        if name == "naive":
            naive = naive_rate(prompts)
            figures["encoders"][name] = {"requests_per_s": naive}
            print(f"  {name:<13} {naive:9,.0f} requests/s ({naive / cores:,.0f} per core)")
            continue
        got = pipeline_rate(name, prompts, args.static_model)
        vectors = got.pop("vectors")
        reference = vectors if name == "torch" else reference
        if reference is not None and reference.shape == vectors.shape:
            cos = (reference * vectors).sum(axis=1)
            got.update(cos_to_torch_mean=float(cos.mean()), cos_to_torch_min=float(cos.min()))
        figures["encoders"][name] = got
        rate = got["requests_per_s"]
        vs = f", {rate / naive:.1f}x naive" if naive else ""
        cos_text = f"; cosine to torch {got['cos_to_torch_mean']:.4f} (min {got['cos_to_torch_min']:.3f})" \
            if "cos_to_torch_mean" in got else ""
        print(f"  {name:<13} {rate:9,.0f} requests/s ({rate / cores:,.0f} per core; "
              f"{got['distinct_per_s']:,.0f} distinct prompts/s, {got['distinct_per_cpu_s']:,.1f} per CPU second{vs}; "
              f"load {got['load_s']:.1f}s{cos_text})")

    if args.quality:
        tmp = Path(tempfile.mkdtemp(prefix="targeting-encoders-"))
        try:
            write_traffic(tmp / "traffic", requests, labels)
            print("quality (whole pipeline, fresh workspace each):")
            for name in names:
                if name == "naive":
                    continue
                q = quality(name, tmp / "traffic", args.static_model, tmp)
                figures["encoders"][name]["quality"] = q
                print(f"  {name:<13} AUROC {q['auroc']:.3f}  AUPRC {q['auprc']:.3f}  "
                      f"recall@1%FPR {q['recall_at_1pct_fpr']:.3f}  area acc. {q['area_accuracy']:.3f}  "
                      f"request area acc. {q['request_area_accuracy']:.3f}  campaign ARI {q['campaign_ari']:.3f}  "
                      f"(run {q['wall_s']:.0f}s, embed {q['timings'].get('embed', 0):.0f}s)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MiB")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
