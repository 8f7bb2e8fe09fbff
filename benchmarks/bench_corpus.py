"""Corpus stage throughput: MB/s of UTF-8 input through `build_corpus`.

    python benchmarks/bench_corpus.py [--mb 50]

Measures (1) the full built-in default (all five builtins, no caps) and (2) a generated
local JSON Lines file of about --mb MB, and, on the same file in the same run, the bare
baseline `datasets.load_dataset("json", ...)` + pandas `to_parquet`, with the ratio.
MB are 10**6 bytes of UTF-8 text (the `text` values, before normalisation).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tokattn.common.config import validate_config  # noqa: E402
from tokattn.corpus.build import build_corpus  # noqa: E402
from tokattn.corpus.builtin_text import iter_builtin  # noqa: E402

BUILTIN_DOMAINS = {
    "python_docs": "technical",
    "chatterbot": "dialog",
    "udhr": "legal",
    "wikipedia": "encyclopedia",
    "news": "news",
}


def corpus_section(sources: list[dict]) -> dict:
    config = {"corpus": {"sources": sources}, "tokenizers": [{"name": "b", "kind": "byte"}]}
    return validate_config(config)["corpus"]


def run_build(corpus: dict, out: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    stats = build_corpus(
        corpus, out / "train.parquet", out / "val.parquet", out / "test.parquet", out / "stats.json"
    )
    return time.perf_counter() - start, stats


def make_jsonl(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Write documents stitched from built-in lines (many languages); return text bytes."""
    rng = random.Random(seed)
    lines = [
        line
        for name in ("chatterbot", "udhr", "wikipedia", "news")
        for doc in iter_builtin(name)
        for line in doc.text.split("\n")
        if line.strip()
    ]
    text_bytes = 0
    with open(path, "w", encoding="utf-8") as fh:
        i = 0
        while text_bytes < target_bytes:
            text = "\n".join(rng.choices(lines, k=rng.randint(3, 40)))
            fh.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
            text_bytes += len(text.encode("utf-8"))
            i += 1
    return text_bytes


def baseline(path: Path, out: Path) -> float:
    import datasets

    datasets.disable_progress_bars()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out) as cache:
        ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache)
        ds.to_pandas().to_parquet(out / "baseline.parquet")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50, help="size of the generated jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        tmp = Path(tmp)
        sources = [
            {"name": b, "type": "builtin", "builtin": b, "domain": d}
            for b, d in BUILTIN_DOMAINS.items()
        ]
        seconds, stats = run_build(corpus_section(sources), tmp / "builtin")
        read = sum(s["read"]["bytes"] for s in stats["sources"].values())
        print(
            f"builtin default (5 sources): {read / 1e6:7.2f} MB in {seconds:6.2f} s "
            f"= {read / 1e6 / seconds:6.2f} MB/s"
        )

        path = tmp / "docs.jsonl"
        text_bytes = make_jsonl(path, int(args.mb * 1e6))
        source = {
            "name": "gen",
            "type": "hf",
            "path": "json",
            "data_files": str(path),
            "domain": "mixed",
            "language": "mul",
        }
        seconds, stats = run_build(corpus_section([source]), tmp / "jsonl")
        base = baseline(path, tmp)
        file_mb = path.stat().st_size / 1e6
        print(f"jsonl ({file_mb:.1f} MB file, {text_bytes / 1e6:.1f} MB text):")
        print(
            f"  build_corpus            : {seconds:6.2f} s = {text_bytes / 1e6 / seconds:6.2f} MB/s"
        )
        print(f"  load_dataset + to_parquet: {base:6.2f} s = {text_bytes / 1e6 / base:6.2f} MB/s")
        print(f"  ratio build_corpus / baseline time: {seconds / base:.2f}x")


if __name__ == "__main__":
    main()
