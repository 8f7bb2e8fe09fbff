"""Time tokattn's train_tokenizer against bare `Tokenizer.train_from_iterator`.

    python benchmarks/bench_tokenizers.py      # 5 MB (unigram 2 MB), bpe bytelevel_bpe unigram
    python benchmarks/bench_tokenizers.py --mb 2 --kinds bpe --repeats 5

The text is the built-in offline corpus (python_docs, chatterbot, udhr, wikipedia,
news; NFC, in that order, capped at --mb MB, --unigram-mb for unigram, whose trainer is
far slower) written as a corpus-stage parquet file.
For each kind, in the same process and on the same text:

- tokattn: the whole stage function, `train_tokenizer(spec, parquet, out_dir)`: stream
  the parquet, count characters, train, add byte-fallback tokens, save the folder
  atomically, load it back with transformers;
- bare: `Tokenizer.train_from_iterator` on the texts already in memory (batches of
  1024 documents) with the same model, pre-tokenizer and trainer settings (for unigram,
  on the same text with rare characters already replaced), nothing saved.

Runs alternate (bare, tokattn, bare, ...); the best of --repeats is reported, as wall
time (the target; also the ratio of medians) and as process CPU time (all threads).
On a shared machine the trainer's own run-to-run spread (often ±10 %) exceeds tokattn's
overhead, so use several repeats on an idle machine. Importing
transformers is done once beforehand and reported separately. Exits 1 when a ratio
misses --target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SOURCES = ["python_docs", "chatterbot", "udhr", "wikipedia", "news"]


def write_corpus(path: Path, max_bytes: int) -> tuple[list[str], int]:
    """Write the built-in text (at most `max_bytes`) as a corpus parquet; return texts and bytes."""
    from tokattn.corpus.builtin_text import LICENCES, iter_builtin

    rows, total = [], 0
    for source in SOURCES:
        for doc in iter_builtin(source):
            text = unicodedata.normalize("NFC", doc.text)
            n = len(text.encode("utf-8"))
            if total + n > max_bytes:
                break
            rows.append((f"{source}-{len(rows)}", text, source, source, doc.language, n))
            total += n
    df = pd.DataFrame(rows, columns=["id", "text", "source", "domain", "language", "n_bytes"])
    df["licence"] = df["source"].map(LICENCES)
    df.to_parquet(path, index=False)
    return df["text"].tolist(), total


def bare_train(kind: str, vocab_size: int, texts: list[str], alphabet, rare):
    """Train with tokenizers alone (same model, pre-tokenizer, trainer settings); return (wall, cpu) s."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    specials = ["<s>", "</s>", "<pad>", "<unk>"]
    if rare:
        texts = [t.translate(rare) for t in texts]  # prepared outside the timed region
    extra = (
        {} if alphabet is None else {"initial_alphabet": alphabet, "limit_alphabet": len(alphabet)}
    )
    t0, c0 = time.perf_counter(), time.process_time()
    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size - 256, min_frequency=2, special_tokens=specials,
            show_progress=False, **extra,
        )  # fmt: skip
    elif kind == "bytelevel_bpe":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=2, special_tokens=specials, show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )  # fmt: skip
    elif kind == "unigram":
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size - 256, special_tokens=specials, unk_token="<unk>",
            show_progress=False,
        )  # fmt: skip
    else:
        raise ValueError(f"kind {kind!r} has no bare baseline here")
    batches = (texts[i : i + 1024] for i in range(0, len(texts), 1024))
    tok.train_from_iterator(batches, trainer)
    return time.perf_counter() - t0, time.process_time() - c0


def _row(kind: str, mb: float, bare: list, ours: list) -> tuple[str, float]:
    """Format one result line; return it and the wall-time ratio of the best runs."""
    bare_wall, ours_wall = min(w for w, _ in bare), min(w for w, _ in ours)
    bare_cpu, ours_cpu = min(c for _, c in bare), min(c for _, c in ours)
    med = statistics.median(w for w, _ in ours) / statistics.median(w for w, _ in bare)
    ratio = ours_wall / bare_wall
    line = (
        f"{kind:<15}{mb:>6.2f}{bare_wall:>9.2f}{ours_wall:>10.2f}{ratio:>7.2f}x{med:>9.2f}x"
        f"{bare_cpu:>9.2f}{ours_cpu:>10.2f}{ours_cpu / bare_cpu:>7.2f}x"
    )
    return line, ratio


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=5.0, help="MB of text (default 5)")
    ap.add_argument(
        "--unigram-mb", type=float, default=2.0, help="MB of text for unigram (slow; default 2)"
    )
    ap.add_argument("--kinds", nargs="+", default=["bpe", "bytelevel_bpe", "unigram"])
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", type=float, default=1.1, help="max tokattn/bare ratio")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from transformers import PreTrainedTokenizerFast  # noqa: F401  (imported once per job)

    from tokattn.tokenizing.tokenization import alphabet_plan, resolve_spec, train_tokenizer
    from tokattn.tokenizing.training_text import char_counts, text_batches

    print(f"imports (transformers tokenizer classes, tokattn): {time.perf_counter() - t0:.2f} s")
    print(
        f"vocab_size {args.vocab_size}; best (and median ratio) of {args.repeats} alternating runs"
    )
    print(
        f"{'kind':<15}{'MB':>6}{'bare s':>9}{'tokattn s':>10}{'ratio':>8}{'median':>10}"
        f"{'bare cpu':>9}{'tokattn cpu':>12}{'ratio':>7}"
    )
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds:
            mb = args.unigram_mb if kind == "unigram" else args.mb
            parquet = Path(tmp) / f"train-{mb}.parquet"
            texts, n_bytes = write_corpus(parquet, int(mb * 1e6))
            spec = resolve_spec({"name": kind, "kind": kind, "vocab_size": args.vocab_size})
            alphabet, rare = None, None
            if spec["pre_tokenizer"] != "bytelevel":
                counts = char_counts(text_batches(parquet, None), spec["pre_tokenizer"])
                _, alphabet, rare = alphabet_plan(spec, counts)
            bare, ours = [], []
            for _ in range(args.repeats):
                bare.append(bare_train(kind, args.vocab_size, texts, alphabet, rare))
                t, c = time.perf_counter(), time.process_time()
                train_tokenizer(spec, parquet, Path(tmp) / kind)
                ours.append((time.perf_counter() - t, time.process_time() - c))
            line, ratio = _row(kind, n_bytes / 1e6, bare, ours)
            failed |= ratio > args.target
            print(line, flush=True)
    print(f"target: best-run wall ratio <= {args.target}x -> {'MISSED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
