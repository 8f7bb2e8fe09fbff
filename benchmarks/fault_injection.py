"""Fault injection in one command: kill -9 in training and in the dump, disk full, byte flips.

    python benchmarks/fault_injection.py [--kills 3] [--flips 200] [--seed 0]

Builds a tiny real setup in a temporary folder (corpus parquet, a BPE tokenizer,
pre-tokenized splits, a 2-layer model, a probe set) and injects, each case alone:

- kill -9 of the trainer at a random moment, then a resume; the exported
  model.safetensors must equal an uninterrupted run's, byte for byte;
- kill -9 of the attention dump at a random moment, then a rerun; no complete-looking
  store may exist after the kill, and the rerun's store must read back equal to a
  reference dump with no temp file left;
- a full disk (a small tmpfs; needs root, else these cases are reported as skipped)
  under the dump and under pretokenize: the error must say "disk full" and name the
  path, and no temp file may remain;
- one-byte flips at random offsets of a real attention store: each must read back
  identical data or raise AttentionStoreError naming the file.

Prints every case's outcome and the totals: cases tried, clear errors, silent failures
(target 0) and data lost (target 0). Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from tests.faults.injection import byte_flip_run, store_contents, write_probes  # noqa: E402
from tests.tiny_models import TRAIN_TEXT, write_corpus_parquet  # noqa: E402
from tokattn.attention.store_format import AttentionStoreError  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
ARM = {
    "name": "tiny_bpe", "tokenizer": "bpe", "d_model": 32, "n_layers": 2, "n_heads": 2,
    "d_ff": 64, "context_bytes": 128,
}  # fmt: skip
TRAINING = {
    "budget_bytes": 24000, "batch_size": 4, "micro_batch_size": 2, "lr": 3e-3,
    "min_lr": 3e-4, "warmup_fraction": 0.1, "eval_interval": 8, "eval_bytes": 3000,
    "checkpoint_interval": 5, "log_interval": 3, "device": "cpu",
}  # fmt: skip
DUMP = """
import sys
from tokattn.attention.dump import dump_attention
dump_attention(sys.argv[1], sys.argv[2], sys.argv[3], "tiny", 0, {"device": "cpu"})
"""


class Tally:
    """Outcome counts; `record` prints one line per case."""

    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    def record(self, family: str, outcome: str, detail: str = "") -> None:
        self.rows.append((family, outcome, detail))
        print(f"  {family:22s} {outcome:14s} {detail}", flush=True)

    def count(self, outcome: str) -> int:
        return sum(1 for _, o, _ in self.rows if o == outcome)


def setup(root: Path) -> dict:
    """Return paths of a tiny corpus, tokenizer, tokenized splits and probe set under `root`."""
    from tokattn.tokenizing.tokenization import train_tokenizer
    from tokattn.training.tokenized import pretokenize_split

    lines = [line for line in TRAIN_TEXT.split("\n") if line]
    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    write_corpus_parquet(corpus / "train.parquet", lines * 3)
    write_corpus_parquet(corpus / "val.parquet", lines[:5])
    tok = root / "tokenizers" / "bpe"
    spec = {"name": "bpe", "kind": "bpe", "vocab_size": 400, "min_frequency": 1}
    train_tokenizer(spec, corpus / "train.parquet", tok)
    tokenized = root / "tokenized" / "bpe"
    for split in ("train", "val"):
        pretokenize_split(tok, corpus / f"{split}.parquet", tokenized, split, progress=False)
    texts = [f"Probe {i}: " + lines[i % len(lines)][:90] for i in range(24)]
    probes = write_probes(root / "probes.jsonl", texts)
    return {"tokenizer": tok, "tokenized": tokenized, "probes": probes, "corpus": corpus}


def train_job(paths: dict, run: Path) -> Path:
    """Write the train_model job file of one run folder; return it."""
    job = {
        "arm": ARM, "arms": [ARM], "training": TRAINING, "seed": 0,
        "tokenizer_dir": str(paths["tokenizer"]), "tokenized_dir": str(paths["tokenized"]),
        "out_dir": str(run / "model"), "checkpoint_dir": str(run / "checkpoints"),
        "threads": 1,
    }  # fmt: skip
    run.mkdir(parents=True, exist_ok=True)
    (run / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return run / "job.json"


def start_training(job: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tokattn.training.train", "--job", str(job)]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_file(folder: Path, proc: subprocess.Popen, pattern: str = "*") -> float:
    """Wait until `folder` holds a `pattern` file or `proc` ends; return the time waited (s)."""
    t0 = time.perf_counter()
    while proc.poll() is None and not (folder.is_dir() and any(folder.glob(pattern))):
        time.sleep(0.02)
    return time.perf_counter() - t0


def training_kills(paths: dict, root: Path, n: int, rng: random.Random, tally: Tally) -> None:
    t0 = time.perf_counter()
    proc = start_training(train_job(paths, root / "train_ref"))
    first_ckpt = _wait_for_file(root / "train_ref" / "checkpoints", proc)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"reference training failed:\n{err.decode()[-2000:]}")
    # The steps run between the first checkpoint and the export: kill somewhere in there.
    train_s = time.perf_counter() - t0 - first_ckpt
    reference = (root / "train_ref" / "model" / "model.safetensors").read_bytes()
    for i in range(n):
        run = root / f"train_kill{i}"
        proc = start_training(train_job(paths, run))
        _wait_for_file(run / "checkpoints", proc)
        delay = rng.uniform(0.0, 0.9) * train_s
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        resumed = start_training(run / "job.json")
        _, err = resumed.communicate()
        detail = f"kill {delay:.2f} s after the first checkpoint (training {train_s:.1f} s)"
        detail += "" if killed else " (finished first)"
        model = run / "model" / "model.safetensors"
        if resumed.returncode != 0:
            last = (err.decode().strip().splitlines() or ["?"])[-1]
            tally.record("train kill -9", "data_lost", f"{detail}; resume failed: {last}")
        elif model.read_bytes() == reference:
            tally.record("train kill -9", "recovered", f"{detail}; weights identical")
        else:
            tally.record("train kill -9", "silent", f"{detail}; resumed weights differ")


def _comparable(contents: dict) -> dict:
    """Store contents without the attributes that differ between runs (time, paths)."""
    attrs = {k: v for k, v in contents["attrs"].items() if k not in {"created_utc", "attrs_crc32"}}
    return {**contents, "attrs": attrs}


def dump_kills(paths: dict, model: Path, root: Path, n: int, rng, tally: Tally) -> Path:
    ref = root / "dump_ref" / "seed0.h5"
    cmd = [sys.executable, "-c", DUMP, str(model), str(paths["probes"]), str(ref)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.DEVNULL)
    started = _wait_for_file(ref.parent, proc, ".seed0.h5.tmp-*")
    if proc.wait() != 0:
        raise SystemExit("reference dump failed")
    # The probes are written between the temp file's creation and the rename.
    write_s = time.perf_counter() - t0 - started
    want = _comparable(store_contents(ref))
    for i in range(n):
        out = root / f"dump_kill{i}" / "seed0.h5"
        cmd = [sys.executable, "-c", DUMP, str(model), str(paths["probes"]), str(out)]
        proc = subprocess.Popen(cmd, env=ENV, stderr=subprocess.DEVNULL)
        _wait_for_file(out.parent, proc, ".seed0.h5.tmp-*")
        delay = rng.uniform(0.0, 0.9) * write_s
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        detail = f"kill {delay:.2f} s into writing (takes {write_s:.1f} s)"
        detail += "" if killed else " (finished first)"
        if out.exists():
            # The kill came after the rename (while the process was exiting): the store
            # must then be the complete one.
            try:
                same = _comparable(store_contents(out)) == want
            except AttentionStoreError:
                same = False
            outcome = "recovered" if same else "silent"
            tally.record("dump kill -9", outcome, f"{detail}; store complete before the kill")
            continue
        left = len(list(out.parent.glob(".seed0.h5.tmp-*")))
        done = subprocess.run(cmd, env=ENV, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            tally.record("dump kill -9", "data_lost", f"{detail}; rerun failed: {last}")
        elif _comparable(store_contents(out)) != want:
            tally.record("dump kill -9", "silent", f"{detail}; rerun store differs")
        elif list(out.parent.iterdir()) != [out]:
            tally.record("dump kill -9", "silent", f"{detail}; temp files remain after rerun")
        else:
            tally.record("dump kill -9", "recovered", f"{detail}; {left} temp file(s) cleaned")
    return ref


def _mount(point: Path, size: int) -> str | None:
    point.mkdir(parents=True)
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        return "no mount command"
    return None if done.returncode == 0 else done.stderr.strip() or "mount failed"


def disk_full(paths: dict, model: Path, root: Path, tally: Tally) -> None:
    cases = {
        "dump": (60 * 1024, "seed0.h5"),
        "pretokenize": (96 * 1024, "tokenized/train.bin"),
    }
    for name, (size, target) in cases.items():
        point = root / f"full_{name}"
        why = _mount(point, size)
        if why:
            tally.record(f"disk full: {name}", "skipped", f"cannot mount a tmpfs ({why})")
            continue
        try:
            out = point / target
            if name == "dump":
                cmd = [sys.executable, "-c", DUMP, str(model), str(paths["probes"]), str(out)]
            else:
                big = write_corpus_parquet(root / "big.parquet", [TRAIN_TEXT] * 4)
                code = (
                    "import sys; from tokattn.training.tokenized import pretokenize_split; "
                    "pretokenize_split(sys.argv[1], sys.argv[2], sys.argv[3], 'train', False)"
                )
                cmd = [
                    sys.executable,
                    "-c",
                    code,
                    str(paths["tokenizer"]),
                    str(big),
                    str(out.parent),
                ]
            done = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
            last = (done.stderr.strip().splitlines() or [""])[-1]
            leftovers = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
            if done.returncode == 0:
                tally.record(f"disk full: {name}", "silent", "succeeded on a full disk?")
            elif f"{out}: disk full" in last and not leftovers:
                tally.record(f"disk full: {name}", "clear_error", last[:110])
            else:
                detail = f"rc {done.returncode}; {last[:80]}; left {leftovers}"
                tally.record(f"disk full: {name}", "unclear_error", detail)
        finally:
            subprocess.run(["umount", str(point)], capture_output=True)


def byte_flips(store: Path, root: Path, n: int, seed: int, tally: Tally) -> None:
    result = byte_flip_run(store, root / "flipped.h5", n, seed)
    for outcome, count in result["counts"].items():
        for _ in range(count):
            tally.rows.append(("byte flip", outcome, ""))
    print(f"  byte flip              {n} flips of a {result['size']} B store: {result['counts']}")
    for offset, outcome in result["failures"]:
        print(f"    offset {offset}: {outcome}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="kill -9 cases per stage")
    parser.add_argument("--flips", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tally = Tally()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fault_injection_") as tmp:
        root = Path(tmp)
        print("setup: corpus, tokenizer, tokenized splits, probes", flush=True)
        paths = setup(root)
        print("training: kill -9 at a random moment, then resume", flush=True)
        training_kills(paths, root, args.kills, rng, tally)
        model = root / "train_ref" / "model"
        print("attention dump: kill -9 at a random moment, then rerun", flush=True)
        store = dump_kills(paths, model, root, args.kills, rng, tally)
        print("disk full (small tmpfs)", flush=True)
        disk_full(paths, model, root, tally)
        print("byte flips of a real store", flush=True)
        byte_flips(store, root, args.flips, args.seed, tally)
    tried = sum(1 for _, o, _ in tally.rows if o != "skipped")
    silent = tally.count("silent") + tally.count("unclear_error")
    lost = tally.count("data_lost")
    print(
        f"\ncases tried {tried} (skipped {tally.count('skipped')}); "
        f"clear errors {tally.count('clear_error')}; recovered after a kill "
        f"{tally.count('recovered')}; no visible change {tally.count('identical')}; "
        f"silent failures {silent} (target 0; unclear errors counted here: "
        f"{tally.count('unclear_error')}); data lost {lost} (target 0); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    return 0 if silent == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
