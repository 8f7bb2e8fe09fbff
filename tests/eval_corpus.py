"""Small multilingual corpus splits and the tiny `evaluation` config, for benchmark tests."""

from __future__ import annotations

from pathlib import Path

from tokattn.evaluation.tasks.corpus_docs import CorpusDoc

REPO = Path(__file__).resolve().parents[1]

_EN = [
    "The river flows quietly through the old town before it reaches the sea.",
    "Many people walk along the bank in the evening when the weather is mild.",
    "The library opens early on weekdays and closes late on Fridays.",
    "Children often play football in the park behind the station.",
    "A small bakery near the bridge sells fresh bread every morning.",
    "The museum shows paintings from several centuries and many countries.",
]
_DE = [
    "Der Fluss fließt ruhig durch die alte Stadt, bevor er das Meer erreicht.",
    "Viele Menschen gehen abends am Ufer spazieren, wenn das Wetter mild ist.",
    "Die Bibliothek öffnet an Werktagen früh und schließt freitags spät.",
    "Kinder spielen oft Fußball im Park hinter dem Bahnhof.",
    "Eine kleine Bäckerei neben der Brücke verkauft jeden Morgen frisches Brot.",
]
_ZH = ["河水静静地流过古老的小镇，然后流入大海。", "许多人在傍晚天气温和的时候沿着河岸散步。"]


def corpus_docs(split: str) -> list[CorpusDoc]:
    # Train and test documents differ, as the corpus splits do.
    half = {"train": slice(0, None, 2), "test": slice(1, None, 2)}[split]
    out = []
    for lang, sents in (("en", _EN), ("de", _DE), ("zh", _ZH)):
        for k, sent in enumerate(sents[half]):
            text = " ".join([sent] * 3) + " " + " ".join(sents[half])
            out.append(CorpusDoc(f"{split}-{lang}-{k}", text, lang, "prose"))
    return out


def tiny_eval_config() -> dict:
    """Return the `evaluation` section of config/tiny.yaml with schema defaults filled in."""
    from tokattn.common.config_files import load_config

    return load_config(REPO / "config" / "tiny.yaml")["evaluation"]


def write_corpus_parquet(path: Path, docs: list[CorpusDoc]) -> Path:
    """Write documents as a corpus split parquet (the columns the corpus stage writes)."""
    import pandas as pd

    pd.DataFrame(
        {
            "id": [d.id for d in docs],
            "text": [d.text for d in docs],
            "source": ["test"] * len(docs),
            "domain": [d.domain for d in docs],
            "language": [d.language for d in docs],
            "licence": ["CC0"] * len(docs),
            "n_bytes": [len(d.text.encode()) for d in docs],
        }
    ).to_parquet(path)
    return path
