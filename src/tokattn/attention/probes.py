"""The probe set: the texts every model's attention is dumped for.

Built once per experiment from the test split (per language and domain) plus simple
examples and stress probes (typos, casing, digits, multi-digit addition with carries,
repeated spans for induction, rare words). Every probe is cut to at most
``max_bytes`` UTF-8 bytes at a character boundary, so all tokenizers see the same text
and budgets stay in bytes. One JSON object per line:
``{"id", "text", "language", "domain", "kind", "n_bytes", "source", "meta"}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tokattn.common.atomic_files import remove_stale_temps

STRESS_KINDS = ("typos", "casing", "digits", "addition", "repeat", "rare_words")
DEFAULTS = {
    "max_bytes": 256,
    "min_bytes": 32,
    "per_group": 1,
    "max_groups": None,
    "languages": None,
    "simple": True,
    "stress_kinds": list(STRESS_KINDS),
    "stress_per_kind": 2,
    "seed": 1234,
}

SIMPLE_SENTENCES = [
    ("en", "The cat sat on the mat, and the dog slept by the door."),
    ("en", "Paris is the capital of France. Berlin is the capital of Germany."),
    ("en", "One, two, three, four, five, six, seven, eight, nine, ten."),
    ("en", "When Mary and John went to the store, John gave a drink to Mary."),
    ("en", "The keys to the cabinet are on the table."),
    ("de", "Der schnelle braune Fuchs springt über den faulen Hund."),
    ("fr", "Le petit chat dort près de la fenêtre ouverte."),
    ("es", "El niño come una manzana roja en el jardín."),
    ("ru", "Москва — столица России, а Киев — столица Украины."),
    ("zh", "今天天气很好，我们去公园散步吧。"),
    ("ja", "東京は日本の首都で、とても大きな都市です。"),
    ("ar", "القاهرة هي عاصمة مصر وأكبر مدنها."),
]
WORDS = [
    "apple",
    "river",
    "stone",
    "window",
    "garden",
    "yellow",
    "quiet",
    "number",
    "letter",
    "silver",
    "market",
    "winter",
    "forest",
    "mirror",
    "candle",
    "rabbit",
    "pocket",
    "ladder",
    "bridge",
    "copper",
    "thunder",
    "velvet",
    "lantern",
    "harbor",
    "pepper",
    "violin",
    "marble",
    "canyon",
    "feather",
    "orange",
    "planet",
    "saddle",
    "blanket",
    "pencil",
    "meadow",
    "island",
    "basket",
    "cotton",
    "dragon",
    "engine",
    "falcon",
    "glacier",
    "hammer",
    "jungle",
    "kettle",
]
RARE_WORDS = [
    "sesquipedalian",
    "defenestration",
    "floccinaucinihilipilification",
    "syzygy",
    "borborygmus",
    "quixotic",
    "antidisestablishmentarianism",
    "callipygian",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "lalochezia",
    "petrichor",
    "zenzizenzizenzic",
    "hippopotomonstrosesquippedaliophobia",
    "xertz",
    "gobbledygook",
]
CARRIERS = [
    "The professor described the {w} in great detail.",
    "Nobody expected the word {w} to appear in the report.",
    "She wrote {w} on the board and everyone laughed.",
]
_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def cut_to_bytes(text: str, max_bytes: int) -> str:
    """Return the longest prefix of `text` of at most `max_bytes` UTF-8 bytes (whole characters)."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def _probe(
    pid: str, text: str, language: str, domain: str, kind: str, source: str = "", **meta
) -> dict:
    return {
        "id": _ID_BAD.sub("_", pid),
        "text": text,
        "language": language,
        "domain": domain,
        "kind": kind,
        "n_bytes": len(text.encode("utf-8")),
        "source": source,
        "meta": meta,
    }


def _stable_rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def corpus_probes(test: pd.DataFrame, cfg: Mapping) -> list[dict]:
    """Return `per_group` texts of the test split per (language, domain), cut to max_bytes."""
    df = test.copy()
    df["n_bytes"] = df["text"].map(lambda t: len(t.encode("utf-8")))
    df = df[df["n_bytes"] >= cfg["min_bytes"]]
    if cfg.get("languages"):
        df = df[df["language"].isin(cfg["languages"])]
    if "id" not in df.columns:
        df["id"] = df.index.astype(str)
    df["rank"] = [_stable_rank(str(i), cfg["seed"]) for i in df["id"]]
    sizes = df.groupby(["language", "domain"]).size().reset_index(name="n")
    sizes = sizes.sort_values(["n", "language", "domain"], ascending=[False, True, True])
    if cfg.get("max_groups"):
        sizes = sizes.head(cfg["max_groups"])
    probes = []
    for language, domain in zip(sizes["language"], sizes["domain"], strict=True):
        group = df[(df["language"] == language) & (df["domain"] == domain)].sort_values("rank")
        for k, row in enumerate(group.head(cfg["per_group"]).itertuples()):
            text = cut_to_bytes(row.text, cfg["max_bytes"])
            probes.append(
                _probe(
                    f"corpus-{language}-{domain}-{k}",
                    text,
                    language,
                    domain,
                    "corpus",
                    str(getattr(row, "source", "")),
                    doc_id=str(row.id),
                )
            )
    return probes


def simple_probes(cfg: Mapping) -> list[dict]:
    """Return the hand-written simple sentences (several languages and scripts)."""
    return [
        _probe(f"simple-{lang}-{i}", cut_to_bytes(text, cfg["max_bytes"]), lang, "simple", "simple")
        for i, (lang, text) in enumerate(SIMPLE_SENTENCES)
    ]


def _typo(text: str, rng: random.Random, n_edits: int) -> str:
    chars = list(text)
    for _ in range(n_edits):
        letters = [i for i, c in enumerate(chars[:-1]) if c.isalpha() and chars[i + 1].isalpha()]
        if not letters:
            break
        i = rng.choice(letters)
        op = rng.choice(("swap", "drop", "double"))
        if op == "swap":
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == "drop":
            del chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def _random_case(text: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in text)


def _carry_operands(rng: random.Random, n_digits: int) -> tuple[int, int]:
    # Digit pairs summing to >= 10 in every column force a carry chain.
    a = [rng.randint(1, 9)] + [rng.randint(5, 9) for _ in range(n_digits - 1)]
    b = [rng.randint(1, 9)] + [rng.randint(10 - d, 9) for d in a[1:]]
    return int("".join(map(str, a))), int("".join(map(str, b)))


def stress_probes(cfg: Mapping) -> list[dict]:
    """Return the stress probes of every configured kind, `stress_per_kind` each."""
    rng = random.Random(cfg["seed"])
    max_bytes, per = cfg["max_bytes"], cfg["stress_per_kind"]
    english = [t for lang, t in SIMPLE_SENTENCES if lang == "en"]
    out = []
    for kind in cfg["stress_kinds"]:
        for i in range(per):
            pid = f"{kind}-{i}"
            base = english[i % len(english)]
            if kind == "typos":
                text = cut_to_bytes(_typo(base, rng, 3), max_bytes)
                out.append(_probe(pid, text, "en", "stress", kind, clean=base))
            elif kind == "casing":
                style = ("upper", "lower", "title", "random")[i % 4]
                text = {
                    "upper": base.upper(),
                    "lower": base.lower(),
                    "title": base.title(),
                    "random": _random_case(base, rng),
                }[style]
                out.append(
                    _probe(
                        pid,
                        cut_to_bytes(text, max_bytes),
                        "en",
                        "stress",
                        kind,
                        casing=style,
                        clean=base,
                    )
                )
            elif kind == "digits":
                parts = [
                    f"Order {rng.randint(10, 99)}-{rng.randint(1000, 9999)} costs "
                    f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d} dollars",
                    f"in {rng.randint(1900, 2099)}, pi is {rng.choice(['3.14159', '3.1416'])}",
                    f"and the total was {rng.randint(10**5, 10**9):,}.",
                ]
                out.append(
                    _probe(pid, cut_to_bytes(", ".join(parts), max_bytes), "en", "stress", kind)
                )
            elif kind == "addition":
                lines, sums = [], []
                while True:
                    a, b = _carry_operands(rng, rng.randint(2, 6))
                    line = f"{a} + {b} = {a + b}\n"
                    if len("".join(lines + [line]).encode()) > max_bytes:
                        break
                    lines.append(line)
                    sums.append([a, b, a + b])
                out.append(_probe(pid, "".join(lines), "en", "stress", kind, equations=sums))
            elif kind == "repeat":
                words: list[str] = []
                while len(" ".join(words + ["x" * 12]).encode()) * 2 + 1 <= max_bytes:
                    words.append(rng.choice(WORDS))
                span = " ".join(words)
                text = f"{span} {span}"
                n = len(span.encode()) + 1
                out.append(
                    _probe(pid, text, "en", "stress", kind, period_bytes=n, repeat_start_byte=n)
                )
            elif kind == "rare_words":
                word = RARE_WORDS[(i * 5 + rng.randint(0, 4)) % len(RARE_WORDS)]
                text = cut_to_bytes(CARRIERS[i % len(CARRIERS)].format(w=word), max_bytes)
                start = text.encode().find(word.encode())
                out.append(
                    _probe(
                        pid,
                        text,
                        "en",
                        "stress",
                        kind,
                        rare_word=word,
                        rare_word_span=[start, start + len(word.encode())],
                    )
                )
            else:
                raise ValueError(f"unknown stress kind {kind!r} (choose from {STRESS_KINDS})")
    return out


def build_probes(
    test_parquet: str | Path, out_path: str | Path, cfg: Mapping | None = None
) -> list[dict]:
    """Write probes.jsonl (atomically) from the test split and the config; return the probes."""
    cfg = {**DEFAULTS, **(cfg or {})}
    test = pd.read_parquet(test_parquet)
    probes = corpus_probes(test, cfg)
    if cfg["simple"]:
        probes += simple_probes(cfg)
    probes += stress_probes(cfg)
    probes = [p for p in probes if p["text"]]
    seen: set[str] = set()
    for p in probes:
        if p["id"] in seen:
            raise ValueError(f"duplicate probe id {p['id']!r}")
        seen.add(p["id"])
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    remove_stale_temps(out_path)
    with open(tmp, "w", encoding="utf-8") as fh:
        for p in probes:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    os.replace(tmp, out_path)
    return probes
