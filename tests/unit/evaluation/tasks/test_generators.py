"""Built-in generators: correct answers, deterministic per seed, train/eval disjoint."""

from __future__ import annotations

import re

import pytest

from tokattn.evaluation.tasks.build import build_items
from tokattn.evaluation.tasks.inference import (
    addition_items,
    cloze_items,
    comparison_items,
    ordering_items,
    split_names,
)
from tokattn.evaluation.tasks.items import item_to_dict, load_items, save_items
from tokattn.evaluation.tasks.lexicon import NAMES, TEMPLATES
from tokattn.evaluation.tasks.memory import associative_items, passkey_items


@pytest.mark.parametrize("language", list(TEMPLATES))
def test_name_pools_are_disjoint_and_large_enough(language):
    train, evaluation = split_names(language, "train"), split_names(language, "eval")
    assert not set(train) & set(evaluation)
    assert sorted(train + evaluation) == sorted(NAMES[language])
    assert min(len(train), len(evaluation)) >= 5


@pytest.mark.parametrize("task", ["inference", "memory", "summarization"])
def test_deterministic_per_seed(task, eval_cfg, test_docs):
    a = [item_to_dict(i) for i in build_items(task, eval_cfg, test_docs, "eval", seed=3)]
    b = [item_to_dict(i) for i in build_items(task, eval_cfg, test_docs, "eval", seed=3)]
    c = [item_to_dict(i) for i in build_items(task, eval_cfg, test_docs, "eval", seed=4)]
    assert a and a == b
    assert a != c


@pytest.mark.parametrize("task", ["inference", "memory", "summarization"])
def test_train_and_eval_instances_are_disjoint(task, eval_cfg, test_docs, train_docs):
    ev = build_items(task, eval_cfg, test_docs, "eval")
    tr = build_items(task, eval_cfg, train_docs, "train")
    assert ev and tr
    text = (lambda i: i.document) if task == "summarization" else (lambda i: i.context)
    assert not {text(i) for i in ev} & {text(i) for i in tr}
    assert all(i.split == "eval" for i in ev) and all(i.split == "train" for i in tr)
    if task == "summarization":
        ev_mods = {i.meta["module"].split(".")[0] for i in ev}
        tr_mods = {i.meta["module"].split(".")[0] for i in tr}
        assert not ev_mods & tr_mods
    else:
        # No name (per language) and no number pair/pass key/value of an eval item occurs
        # in a train item.
        def names(items):
            return {
                (i.language, w)
                for i in items
                if i.subtask != "cloze"
                for w in NAMES.get(i.language, [])
                if w in i.context
            }

        def numbers(items):
            out = set()
            for i in items:
                found = tuple(re.findall(r"\d+", i.context.split("\n")[0]))
                if found and i.subtask != "cloze":
                    out |= {found} if task == "inference" else set(found)
            return out

        assert not names(ev) & names(tr)
        assert not numbers(ev) & numbers(tr)


def test_ordering_answers_follow_from_the_premises():
    for it in ordering_items("en", 30, "eval", seed=1, n_entities=4):
        more = re.findall(r"(\w+) has more books than (\w+)\.", it.context)
        assert len(more) == 3
        ranks = {}
        names = {a for a, _ in more} | {b for _, b in more}
        for name in names:  # count how many people `name` beats, transitively
            beaten, frontier = set(), {name}
            while frontier:
                frontier = {b for a, b in more if a in frontier} - beaten
                beaten |= frontier
            ranks[name] = len(beaten)
        answer = it.choices[it.answer].strip()
        if "most books?" in it.context:
            assert ranks[answer] == 3
        elif "fewest" in it.context:
            assert ranks[answer] == 0
        else:
            a, b = re.search(r"Who has more books, (\w+) or (\w+)\?", it.context).groups()
            assert answer == (a if ranks[a] > ranks[b] else b)
            assert abs(ranks[a] - ranks[b]) >= 2  # never adjacent: needs two steps


def test_addition_and_comparison_answers():
    for it in addition_items("de", 40, "eval", seed=2, digits=[3, 4], n_choices=4):
        a, b = map(int, re.findall(r"\d+", it.context))
        assert int(it.choices[it.answer]) == a + b
        assert len(set(it.choices)) == 4 and it.meta["carries"] >= 1
    for it in comparison_items("zh", 40, "eval", seed=2, digits=[4]):
        a, b = map(int, re.findall(r"\d+", it.context))
        assert int(it.choices[it.answer]) == max(a, b) and a != b
        assert len(str(a)) == len(str(b)) == 4
        assert not it.choices[0].startswith(" ")  # Chinese: no space before the answer


def test_cloze_items_come_from_the_corpus(test_docs):
    items = cloze_items([d for d in test_docs if d.language == "en"], "en", 5, "eval", seed=0)
    assert items
    for it in items:
        full = it.context + it.choices[it.answer]
        assert any(full in d.text for d in test_docs)
        assert len(set(it.choices)) == len(it.choices) == 4
    assert cloze_items([d for d in test_docs if d.language == "zh"], "zh", 5, "eval", 0) == []


@pytest.mark.parametrize("language", ["en", "de", "zh", "hi", "ru"])
def test_memory_items_have_exact_byte_distances(language, test_docs):
    docs = [d for d in test_docs if d.language == language] or [
        d for d in test_docs if d.language == "en"
    ]
    distances = [0, 64, 300]
    for it in passkey_items(docs, language, distances, 2, "eval", seed=0) + associative_items(
        docs, language, distances, 2, "eval", seed=0
    ):
        assert it.distance_bytes - 3 <= it.filler_bytes <= it.distance_bytes
        answer = it.choices[it.answer].strip()
        assert it.context.count(answer) >= 1
        facts = it.context.split("\n")[0]
        assert answer in facts  # the value is stated before the filler
        assert len(set(it.choices)) == len(it.choices)


def test_items_round_trip_through_jsonl(tmp_path, eval_cfg, test_docs):
    items = build_items("memory", eval_cfg, test_docs, "eval")
    save_items(tmp_path / "m.jsonl", items)
    assert load_items("memory", tmp_path / "m.jsonl") == items
