"""Evaluation throughput per task on CPU, and the shared-prefix choice scorer vs one pass per choice.

    python benchmarks/bench_eval.py [--d-model 256] [--layers 4] [--context 512] [--items 8]

Builds a BPE tokenizer (vocab 4000, the project's `train_tokenizer`) on built-in text and
a randomly initialised Llama of the given size (throughput does not depend on training),
then times on the same machine, in one run:

1. lm: documents/s and KB/s of `score_documents` (sliding window, stride 0.5);
2. inference: items/s of `choice_logliks` (shared prefix computed once, KV cache copied
   to all choices) and of `choice_logliks_separate` (one full pass per choice) on the
   same items, with the ratio;
3. memory: the same two scorers on retention items (long shared prefixes: up to 2 KB of
   filler), plus greedy generation for exact match;
4. summarization: generation (64-byte budget) + ROUGE, items/s.

Both scorers are checked to agree (max |Δ log-likelihood| printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def build_corpus(folder: Path, max_bytes: int):
    """Write built-in text as train/test parquet splits; return (train docs, test docs)."""
    import pandas as pd

    from tokattn.corpus.builtin_text import iter_builtin
    from tokattn.evaluation.tasks.corpus_docs import CorpusDoc
    from tokattn.evaluation.tasks.items import stable_fraction

    rows, total = [], 0
    for source, domain in (
        ("python_docs", "technical"),
        ("chatterbot", "dialog"),
        ("udhr", "legal"),
    ):
        budget = total + max_bytes // 3
        for doc in iter_builtin(source):
            n = len(doc.text.encode("utf-8"))
            if total + n > budget:
                break
            rows.append((f"{source}-{len(rows)}", doc.text, source, domain, doc.language, n))
            total += n
    df = pd.DataFrame(rows, columns=["id", "text", "source", "domain", "language", "n_bytes"])
    df["licence"] = "various"
    is_test = df["id"].map(lambda i: stable_fraction(i, "bench") < 0.2)
    df[~is_test].to_parquet(folder / "train.parquet", index=False)
    df[is_test].to_parquet(folder / "test.parquet", index=False)
    docs = [CorpusDoc(r.id, r.text, r.language.split("_")[0], r.domain) for r in df.itertuples()]
    return [d for d, t in zip(docs, is_test, strict=True) if not t], [
        d for d, t in zip(docs, is_test, strict=True) if t
    ]


def build_model(folder: Path, args) -> Path:
    """Train the tokenizer, save a random Llama of the requested size beside it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokattn.tokenizing.tokenization import train_tokenizer

    out = folder / "model"
    tok = train_tokenizer(
        {"name": "bpe_4k", "kind": "bpe", "vocab_size": 4000}, folder / "train.parquet", out
    )
    tok.model_max_length = args.context
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=args.d_model,
        intermediate_size=args.d_model * 8 // 3,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.context,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=512, help="context window in tokens")
    parser.add_argument("--items", type=int, default=8, help="items per generator × language")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--corpus-bytes", type=int, default=600_000)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from tokattn.common.config_files import load_config
    from tokattn.evaluation.generation import generate
    from tokattn.evaluation.lm import score_documents
    from tokattn.evaluation.metrics import load_rouge
    from tokattn.evaluation.model_io import load_scoring_model
    from tokattn.evaluation.scoring import choice_logliks, choice_logliks_separate
    from tokattn.evaluation.tasks.build import build_items

    cfg = load_config(REPO / "config" / "config.yaml")["evaluation"]
    cfg["inference"] = {**cfg["inference"], "languages": ["en", "de", "zh"], "n_items": args.items}
    cfg["memory"] = {
        **cfg["memory"],
        "languages": ["en", "de"],
        "n_items": max(1, args.items // 4),
        "distances_bytes": [64, 256, 1024, 2048],
    }
    cfg["summarization"] = {**cfg["summarization"], "n_items": args.items}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, test = build_corpus(tmp, args.corpus_bytes)
        sm = load_scoring_model(build_model(tmp, args), device="cpu")
        n_params = sum(p.numel() for p in sm.model.parameters())
        print(
            f"model: d_model={args.d_model} layers={args.layers} context={args.context} tokens, "
            f"{n_params / 1e6:.1f}M params, vocab {len(sm.tokenizer)}; torch threads {args.threads}"
        )
        rows = []

        docs = [d.text[:4000] for d in test[:40]]
        scores, sec = timed(lambda: score_documents(sm, docs, 0.5, batch_size=8))
        kb = sum(s.n_bytes for s in scores) / 1e3
        rows.append(("lm (bits per byte)", len(docs), sec, f"{kb / sec:.1f} KB/s"))

        for task in ("inference", "memory"):
            items = build_items(task, cfg, test, "eval")
            shared, sec_shared = timed(
                lambda items=items: [choice_logliks(sm, i.context, i.choices) for i in items]
            )
            separate, sec_sep = timed(
                lambda items=items: [
                    choice_logliks_separate(sm, i.context, i.choices) for i in items
                ]
            )
            delta = max(
                abs(a - b)
                for x, y in zip(shared, separate, strict=True)
                for a, b in zip(x, y, strict=True)
            )
            n_choices = sum(len(i.choices) for i in items) / len(items)
            note = f"{n_choices:.1f} choices/item, max |Δll| {delta:.1e}"
            rows.append((f"{task}: shared prefix", len(items), sec_shared, note))
            rows.append(
                (
                    f"{task}: each choice alone",
                    len(items),
                    sec_sep,
                    f"ratio {sec_sep / sec_shared:.2f}×",
                )
            )
            if task == "memory":
                _, sec = timed(
                    lambda items=items: generate(
                        sm, [i.context for i in items], 16, {"num_beams": 1}, batch_size=8
                    )
                )
                rows.append(("memory: greedy exact match", len(items), sec, "16-byte budget"))

        items = build_items("summarization", cfg, test, "eval")
        rouge = load_rouge()

        def summarize():
            prompts = [cfg["summarization"]["prompt"].format(document=i.document) for i in items]
            preds = generate(sm, prompts, 64, cfg["generation"], batch_size=8)
            return rouge.compute(predictions=preds, references=[i.summaries for i in items])

        _, sec = timed(summarize)
        rows.append(("summarization (gen + ROUGE)", len(items), sec, "64-byte budget"))

    print(f"\n{'task':32s} {'items':>6s} {'seconds':>8s} {'items/s':>8s}  notes")
    for name, n, sec, note in rows:
        print(f"{name:32s} {n:6d} {sec:8.2f} {n / sec:8.2f}  {note}")


if __name__ == "__main__":
    main()
