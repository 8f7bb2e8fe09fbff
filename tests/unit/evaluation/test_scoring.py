"""Multiple-choice scoring: equal to a hand computation, shared prefix equal to separate."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from tokattn.evaluation.runners import _choice_row
from tokattn.evaluation.scoring import choice_logliks, choice_logliks_separate
from tokattn.evaluation.tasks.files import read_choice_file
from tokattn.evaluation.tasks.inference import addition_items, ordering_items

THREE_ITEMS = [
    {"question": "What is 2 plus 2?", "choices": ["3", "4", "22"], "answer": "4"},
    {"question": "Which is a colour?", "choices": ["blue", "table", "seven"], "answer": 0},
    {"question": "Capital of France?", "choices": ["Rome", "Paris"], "answer": 1},
]


def _hand_loglik(sm, context: str, choice: str) -> float:
    """lm-eval style: tokens of context+choice after the tokens of the context alone."""
    whole = sm.tokenizer(context + choice)["input_ids"]  # <s> + tokens
    n_ctx = len(sm.tokenizer(context)["input_ids"])
    assert whole[:n_ctx] == sm.tokenizer(context)["input_ids"]
    with torch.no_grad():
        logp = F.log_softmax(sm.model(input_ids=torch.tensor([whole])).logits[0], dim=-1)
    return sum(float(logp[j - 1, whole[j]]) for j in range(n_ctx, len(whole)))


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_three_item_file_matches_hand_computed_ranking(tmp_path, scoring_models, kind):
    sm = scoring_models[kind]
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in THREE_ITEMS))
    items = read_choice_file(path, "three")
    for item in items:
        ours = choice_logliks(sm, item.context, item.choices)
        hand = [_hand_loglik(sm, item.context, c) for c in item.choices]
        assert ours == pytest.approx(hand, abs=1e-4)
        row = _choice_row(item, ours)
        assert row["pred"] == max(range(len(hand)), key=hand.__getitem__)
        nbytes = [len(c.encode()) for c in item.choices]
        norm = [h / b for h, b in zip(hand, nbytes, strict=True)]
        assert row["pred_norm"] == max(range(len(norm)), key=norm.__getitem__)
        assert row["correct"] == int(row["pred"] == item.answer)


@pytest.mark.parametrize("kind", ["byte", "bpe"])
def test_shared_prefix_equals_separate_passes(scoring_models, kind):
    sm = scoring_models[kind]
    items = ordering_items("en", 3, "eval", 0) + addition_items("zh", 3, "eval", 0)
    items += ordering_items("hi", 2, "eval", 0)
    for it in items:
        shared = choice_logliks(sm, it.context, it.choices)
        separate = choice_logliks_separate(sm, it.context, it.choices)
        assert shared == pytest.approx(separate, abs=1e-4)


def test_long_contexts_are_cut_from_the_left_identically(scoring_models):
    sm = scoring_models["byte"]  # 96-token window, one token per byte
    context = "filler " * 40 + "The pass key is 4821. What is the pass key? The pass key is"
    choices = [" 4821", " 1234", " 99"]
    shared = choice_logliks(sm, context, choices)
    assert shared == pytest.approx(choice_logliks_separate(sm, context, choices), abs=1e-4)
    # Equal to scoring only the last window's worth of bytes by hand.
    cut = context.encode()[-(sm.max_context_tokens - len(" 4821")) :].decode()
    assert len(cut.encode()) + len(" 4821") == sm.max_context_tokens
    whole = sm.tokenizer(cut + " 4821", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = F.log_softmax(sm.model(input_ids=torch.tensor([whole])).logits[0], dim=-1)
    hand = sum(float(logp[j - 1, whole[j]]) for j in range(len(whole) - 5, len(whole)))
    assert shared[0] == pytest.approx(hand, abs=1e-4)
