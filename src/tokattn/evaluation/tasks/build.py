"""Build the evaluation items of a task from the config, and the training-mix texts.

`build_items` turns the `evaluation` config section into the item list of one task;
`write_items` stores it (the file every model is scored on). `training_mix_texts`
renders *train*-split instances of the same generators as plain documents for the
training stage (config `evaluation.training_mix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tokattn.corpus.build import SCHEMA as CORPUS_SCHEMA
from tokattn.evaluation.tasks.corpus_docs import CorpusDoc, docs_by_language, load_corpus_docs
from tokattn.evaluation.tasks.files import read_choice_file, read_summary_file
from tokattn.evaluation.tasks.inference import (
    addition_items,
    cloze_items,
    comparison_items,
    ordering_items,
)
from tokattn.evaluation.tasks.items import (
    ChoiceItem,
    Item,
    MemoryItem,
    SummaryItem,
    save_items,
    write_json_atomic,
)
from tokattn.evaluation.tasks.memory import associative_items, passkey_items
from tokattn.evaluation.tasks.summarization import stdlib_docstring_items

TASKS = ("inference", "memory", "summarization")
MIX_SOURCE = "training_mix"
# Training-mix items generated per round (per generator × language; memory: × distance).
MIX_ROUND_ITEMS = {"inference": 16, "memory": 4, "summarization": 16}


def _inference(cfg: Mapping, docs: list[CorpusDoc], split: str, seed: int, scale: int = 1):
    c = cfg["inference"]
    n = c["n_items"] * scale
    by_lang = docs_by_language(docs)
    items: list[ChoiceItem] = []
    for gen in c["generators"]:
        for lang in c["languages"]:
            if gen == "ordering":
                items += ordering_items(lang, n, split, seed, c["n_entities"])
            elif gen == "addition":
                items += addition_items(lang, n, split, seed, c["digits"], c["n_choices"])
            elif gen == "comparison":
                items += comparison_items(lang, n, split, seed, c["digits"])
            elif gen == "cloze":
                items += cloze_items(by_lang.get(lang, []), lang, n, split, seed, c["n_choices"])
            else:
                raise ValueError(f"unknown inference generator {gen!r}")
    return items


def _memory(cfg: Mapping, docs: list[CorpusDoc], split: str, seed: int, scale: int = 1):
    c = cfg["memory"]
    by_lang = docs_by_language(docs)
    items: list[MemoryItem] = []
    for kind in c["kinds"]:
        for lang in c["languages"]:
            lang_docs = by_lang.get(lang, [])
            if kind == "passkey":
                items += passkey_items(
                    lang_docs,
                    lang,
                    c["distances_bytes"],
                    c["n_items"] * scale,
                    split,
                    seed,
                    c["passkey_digits"],
                    c["n_candidates"],
                )
            elif kind == "associative":
                items += associative_items(
                    lang_docs,
                    lang,
                    c["distances_bytes"],
                    c["n_items"] * scale,
                    split,
                    seed,
                    c["n_keys"],
                )
            else:
                raise ValueError(f"unknown memory kind {kind!r}")
    return items


def _summarization(cfg: Mapping, split: str, seed: int, exclude_text: str = "", scale: int = 1):
    c = cfg["summarization"]
    items: list[SummaryItem] = []
    if "stdlib_docstrings" in c["builtin"]:
        items += stdlib_docstring_items(
            c["n_items"] * scale,
            split,
            seed,
            c["min_body_bytes"],
            c["max_document_bytes"],
            c["max_summary_bytes"],
            exclude_text=exclude_text,
        )
    return items


def _task_files(task: str, cfg: Mapping) -> list[Item]:
    specs = cfg[task].get("task_files", [])
    reader = read_choice_file if task == "inference" else read_summary_file
    items: list[Item] = []
    for spec in specs:
        items += reader(
            spec["path"],
            spec["name"],
            language=spec.get("language", "en"),
            domain=spec.get("domain", "external"),
            fmt=spec.get("format", "auto"),
        )
    return items


def task_file_paths(cfg: Mapping, task: str) -> list[str]:
    """Return the task files the config names for `task` (inputs of the items rule)."""
    return [spec["path"] for spec in cfg.get(task, {}).get("task_files", [])]


def build_items(
    task: str,
    cfg: Mapping,
    corpus_docs: Sequence[CorpusDoc] = (),
    split: str = "eval",
    exclude_text: str = "",
    seed: int | None = None,
    scale: int = 1,
) -> list[Item]:
    """Return the items of `task` for `split`, built as the `evaluation` config section says.

    `corpus_docs` feed cloze and memory filler (the test split for "eval", the train split
    for "train"); task files join the eval split only. `exclude_text` drops summarization
    pairs found in the training corpus.
    """
    seed = cfg["seed"] if seed is None else seed
    if task == "inference":
        items: list[Item] = _inference(cfg, list(corpus_docs), split, seed, scale)
    elif task == "memory":
        items = _memory(cfg, list(corpus_docs), split, seed, scale)
    elif task == "summarization":
        items = _summarization(cfg, split, seed, exclude_text, scale)
    else:
        raise ValueError(f"unknown task {task!r} (one of {', '.join(TASKS)})")
    if split == "eval":
        items += _task_files(task, cfg)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"{task}: duplicate item id {dup!r} (two task files with one name?)")
    return items


def write_items(
    task: str,
    cfg: Mapping,
    out_path: str | Path,
    test_corpus: str | Path | None = None,
    train_corpus: str | Path | None = None,
) -> int:
    """Build the eval items of `task` and write them to `out_path` atomically; return the count.

    Everything (task files included) is read and validated before the file is written.
    """
    docs = load_corpus_docs(test_corpus) if test_corpus else []
    exclude = ""
    if task == "summarization" and train_corpus:
        exclude = "\n".join(d.text for d in load_corpus_docs(train_corpus))
    items = build_items(task, cfg, docs, "eval", exclude_text=exclude)
    if not items:
        raise ValueError(f"{task}: the configuration produces no items")
    return save_items(out_path, items)


def render_for_training(item: Item, cfg: Mapping) -> str:
    """Return an item with its correct answer as one training document."""
    if isinstance(item, SummaryItem):
        prompt = cfg["summarization"]["prompt"].format(document=item.document)
        return f"{prompt} {item.summaries[0]}"
    return item.text()


def training_mix_texts(
    cfg: Mapping,
    train_docs: Sequence[CorpusDoc],
    budget_bytes: int,
    seed: int | None = None,
    max_rounds: int = 1000,
) -> list[tuple[str, str, str]]:
    """Return (text, language, task) training documents of *train*-split items.

    Collects items of the tasks in `training_mix.tasks`, round-robin, until their UTF-8
    size reaches `budget_bytes` (the caller passes ``share × training bytes``). Items come
    from disjoint name/number/module pools and from `train_docs` (the corpus train split),
    never from what evaluation uses. Deterministic for a given seed.
    """
    if budget_bytes <= 0:
        return []
    seed = cfg["seed"] if seed is None else seed
    tasks = list(cfg["training_mix"]["tasks"])
    # Items per round are fixed here, not taken from the evaluation's n_items: the mix
    # fills a byte budget, and evaluation counts must not change what models train on.
    cfg = {
        **cfg,
        **{
            task: {**cfg[task], "n_items": MIX_ROUND_ITEMS[task], "task_files": []}
            for task in TASKS
            if task in cfg
        },
    }
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    total = 0
    for round_ in range(max_rounds):
        grown = False
        per_task = {
            task: build_items(task, cfg, train_docs, "train", seed=seed + 7919 * round_)
            for task in tasks
        }
        queues = {task: list(items) for task, items in per_task.items()}
        while any(queues.values()):
            for task in tasks:
                if not queues[task]:
                    continue
                item = queues[task].pop(0)
                text = render_for_training(item, cfg)
                if text in seen:
                    continue
                seen.add(text)
                grown = True
                out.append((text, item.language, task))
                total += len(text.encode("utf-8"))
                if total >= budget_bytes:
                    return out
        if not grown:
            break
    return out


def write_training_mix(
    cfg: Mapping,
    train_corpus: str | Path,
    out_path: str | Path,
    stats_path: str | Path | None = None,
    share: float | None = None,
) -> dict:
    """Write the training-mix documents as a corpus-shaped parquet (+ stats JSON); return the stats.

    Budget: ``share / (1 - share)`` × the corpus train bytes, so the mix is `share` of the
    combined training text. Columns match the corpus splits (id, text, source, domain,
    language, licence, n_bytes), so the training stage can append the file to its input.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    share = cfg["training_mix"]["share"] if share is None else share
    docs = load_corpus_docs(train_corpus)
    corpus_bytes = sum(len(d.text.encode("utf-8")) for d in docs)
    budget = int(round(corpus_bytes * share / (1 - share))) if share > 0 else 0
    rows = training_mix_texts(cfg, docs, budget)
    table = pa.table(
        {
            "id": [f"{MIX_SOURCE}/{k}" for k in range(len(rows))],
            "text": [t for t, _, _ in rows],
            "source": [MIX_SOURCE] * len(rows),
            "domain": [f"tasks/{task}" for _, _, task in rows],
            "language": [lang for _, lang, _ in rows],
            "licence": ["PSF-2.0" if task == "summarization" else "generated" for *_, task in rows],
            "n_bytes": [len(t.encode("utf-8")) for t, _, _ in rows],
        },
        # The corpus parquet schema minus `script`, which generated items do not carry.
        schema=CORPUS_SCHEMA.remove(CORPUS_SCHEMA.get_field_index("script")),
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(out_path)
    stats = {
        "share": share,
        "corpus_train_bytes": corpus_bytes,
        "budget_bytes": budget,
        "mix_bytes": int(sum(table.column("n_bytes").to_pylist())),
        "n_documents": len(rows),
        "by_task": {
            task: sum(len(t.encode("utf-8")) for t, _, k in rows if k == task)
            for task in cfg["training_mix"]["tasks"]
        },
    }
    if stats_path is not None:
        write_json_atomic(stats_path, stats)
    return stats
