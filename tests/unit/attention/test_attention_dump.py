"""The dump against plain transformers: attention maps, head decomposition, logit lens."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from tokattn.attention.dump import (
    DumpConfig,
    dump_attention,
    encode_probe,
    load_causal_lm,
    plan_windows,
    probe_record,
)
from tokattn.attention.head_decomposition import (
    architecture,
    head_contributions,
    out_proj_bias,
    run_with_capture,
)
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_format import SCHEMA_VERSION

FAMILIES = ["llama", "gpt2"]


def _eager(model_dir):
    # What a user would do: plain transformers, nothing from tokattn.
    return AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager").eval()


@pytest.mark.parametrize("name", FAMILIES)
def test_file_attention_equals_eager_output_attentions(name, stores, model_dirs):
    model = _eager(model_dirs[name][0])
    with AttentionStore(stores[name]) as store:
        assert len(store) > 5
        for record in store:
            ids = torch.as_tensor(record.token_ids, dtype=torch.long)[None]
            with torch.no_grad():
                out = model(ids, output_attentions=True)
            expected = torch.stack(out.attentions)[:, 0].numpy()  # [layer, head, q, k]
            np.testing.assert_allclose(record.attention_maps(), expected, atol=1e-3, rtol=1e-3)
            # Reading one (layer, head) map alone gives the same numbers.
            np.testing.assert_array_equal(
                store.attention_map(record.probe_id, 1, 2), record.attention_map(1, 2)
            )


@pytest.mark.parametrize("name", FAMILIES)
def test_sum_of_head_contributions_is_attention_output(name, model_dirs):
    model = _eager(model_dirs[name][0])
    arch = architecture(model)
    assert arch.family == name
    if name == "llama":
        assert arch.n_kv_heads < arch.n_heads  # grouped-query attention
    ids = torch.arange(4, 60)
    capture = run_with_capture(model, arch, ids)
    for layer, z, out in zip(arch.layers, capture.head_inputs, capture.attn_outputs, strict=True):
        contrib = head_contributions(layer, z)  # [head, pos, d_model]
        assert contrib.shape == (arch.n_heads, len(ids), arch.d_model)
        bias = out_proj_bias(layer)
        assert bias is not None and bias.abs().sum() > 0
        torch.testing.assert_close(contrib.sum(0) + bias, out, atol=1e-5, rtol=1e-5)
        # Each head's slice is not the whole: dropping one head changes the sum.
        assert (contrib[1:].sum(0) + bias - out).abs().max() > 1e-4


@pytest.mark.parametrize("name", FAMILIES)
def test_stored_decomposition_error_is_tiny(name, stores):
    with AttentionStore(stores[name]) as store:
        assert store.attrs["max_decomposition_error"] < 1e-5
        rec = store.record(store.probe_ids[0], attention=False)
        assert rec.head_norm.shape == (2, 4, rec.n_tokens)
        assert np.all(rec.head_cosine <= 1 + 1e-5) and np.all(rec.head_cosine >= -1 - 1e-5)
        # Entropy of every row is within [0, log(visible keys)].
        visible = np.arange(rec.n_tokens) + 1
        assert np.all(rec.entropy >= -1e-5) and np.all(rec.entropy <= np.log(visible) + 1e-4)
        # Additive shares: ⟨c_h, o⟩/‖o‖² = ‖c_h‖ cos / ‖o‖, and heads + bias sum to 1.
        np.testing.assert_allclose(
            rec.head_additive,
            rec.head_norm * rec.head_cosine / rec.attn_out_norm[:, None],
            rtol=1e-4,
            atol=1e-5,
        )
        np.testing.assert_allclose(rec.head_additive.sum(1) + rec.bias_additive, 1, atol=1e-4)
        assert np.abs(rec.bias_additive).max() > 1e-3  # the fixtures' biases are not zero


@pytest.mark.parametrize("name", FAMILIES)
def test_logit_lens_last_layer_is_model_next_token_distribution(name, stores, model_dirs):
    model = _eager(model_dirs[name][0])
    with AttentionStore(stores[name]) as store:
        rec = store.record(store.probe_ids[0], attention=False)
    with torch.no_grad():
        logits = model(torch.as_tensor(rec.token_ids, dtype=torch.long)[None]).logits[0]
    top = torch.softmax(logits.float(), -1).topk(rec.lens_ids.shape[-1], dim=-1)
    np.testing.assert_array_equal(rec.lens_ids[-1], top.indices.numpy())
    np.testing.assert_allclose(rec.lens_probs[-1], top.values.numpy(), atol=1e-6)
    # Iterative lens: the first step is the plain lens' top-1; later steps differ from it.
    np.testing.assert_array_equal(rec.iter_lens_ids[:, :, 0], rec.lens_ids[:, :, 0])
    assert np.all(rec.iter_lens_ids[:, :, 1] != rec.iter_lens_ids[:, :, 0])


def test_root_attributes(stores, byte_tokenizer_dir):
    from tokattn.tokenizing.tokenization import tokenizer_metadata

    with AttentionStore(stores["llama"]) as store:
        a = store.attrs
    assert a["model"] == "llama" and a["seed"] == 0 and a["schema_version"] == SCHEMA_VERSION == 3
    assert a["residual_entry"] == "attention_output" and a["logit_divisor"] == 1.0
    assert a["tokenizer_hash"] == tokenizer_metadata(byte_tokenizer_dir)["tokenizer_sha256"]
    assert a["n_kv_heads"] == 2 and a["n_heads"] == 4 and a["model_family"] == "llama"
    assert a["checkpoint_step"] == -1 and len(a["config_hash"]) == 16
    assert a["dtype"] == "float32" and a["attention_dtype"] == "float16"
    assert json.loads(a["config_json"])["attention"]["iterative_lens_k"] == 2


@pytest.mark.parametrize("name", FAMILIES)
def test_token_byte_spans_cover_the_text(name, stores):
    with AttentionStore(stores[name]) as store:
        for rec in store:
            data = rec.text.encode("utf-8")
            spans = rec.byte_spans
            assert spans[0].tolist() == [0, 0]  # BOS: no text
            assert b"".join(data[s:e] for s, e in spans) == data
            assert rec.token_strings[0] == "<s>"


def test_plan_windows_covers_every_query_once():
    for n, ctx, stride, bos in [
        (10, 16, 8, True),
        (40, 16, 8, True),
        (41, 16, 5, False),
        (100, 8, 7, True),
    ]:
        windows = plan_windows(n, ctx, stride, bos)
        kept = np.concatenate([np.arange(w.q_from, w.q_to) for w in windows])
        np.testing.assert_array_equal(kept, np.arange(n))
        for w in windows:
            assert len(w.index) <= ctx
            assert w.index[-1] == w.q_to - 1
            if w.q_from > 0:
                assert (w.q_from - w.start + 1) >= ctx - stride - (1 if bos else 0)
                assert (w.index[0] == 0) == bos


def test_windowed_probe_longer_than_context(model_dirs):
    model, tokenizer = load_causal_lm(str(model_dirs["llama"][0]))
    arch = architecture(model)
    probe = {
        "id": "long",
        "text": "abcdefghij" * 4,
        "language": "en",
        "domain": "x",
        "kind": "corpus",
    }
    cfg = DumpConfig(top_k=2)
    rec = probe_record(model, arch, tokenizer, probe, cfg, context=16, stride=8)
    assert rec.n_tokens == 41 and rec.attrs["n_windows"] == 5
    maps = rec.attention_maps()
    np.testing.assert_allclose(maps.sum(-1), 1, atol=5e-3)
    full = _eager(model_dirs["llama"][0])
    ids = torch.as_tensor(rec.token_ids, dtype=torch.long)
    with torch.no_grad():
        first = torch.stack(full(ids[None, :16], output_attentions=True).attentions)[:, 0]
        # Queries 24..31 come from the window [BOS] + tokens 17..31.
        window = torch.cat([ids[:1], ids[17:32]])
        later = torch.stack(full(window[None], output_attentions=True).attentions)[:, 0]
    np.testing.assert_allclose(maps[:, :, :16, :16], first.numpy(), atol=1e-3)
    assert rec.window_start[24] == 17 and rec.window_start[10] == 0
    np.testing.assert_allclose(maps[:, :, 24:32, 17:32], later[:, :, 8:, 1:].numpy(), atol=1e-3)
    np.testing.assert_allclose(maps[:, :, 24:32, 0], later[:, :, 8:, 0].numpy(), atol=1e-3)
    assert np.all(maps[:, :, 24:32, 1:17] == 0)


def test_dump_streams_a_probe_longer_than_context(tmp_path, model_dirs):
    probes = tmp_path / "probes.jsonl"
    text = "word " * 60  # 300 bytes: more than the 128-token context of the byte model
    probes.write_text(json.dumps({"id": "p", "text": text, "kind": "corpus"}) + "\n")
    path = dump_attention(
        model_dirs["llama"][0],
        probes,
        tmp_path / "s.h5",
        "llama",
        1,
        {"device": "cpu", "compression": "lzf"},
    )
    with AttentionStore(path) as store:
        rec = store.record("p")
    assert rec.n_tokens == 301 and rec.attrs["n_windows"] > 1
    np.testing.assert_allclose(rec.attention_maps().sum(-1), 1, atol=5e-3)


def test_encode_probe_prepends_bos(model_dirs):
    _, tokenizer = load_causal_lm(str(model_dirs["gpt2"][0]))
    ids, strings, spans = encode_probe(tokenizer, "Grüße", add_bos=True)
    assert ids[0] == tokenizer.bos_token_id and strings[0] == "<s>"
    assert spans[-1, 1] == len("Grüße".encode())


def test_hub_id_is_not_fetched_unless_named():
    with pytest.raises(FileNotFoundError, match="hub: true"):
        load_causal_lm("openai-community/gpt2", hub=False)


def test_unsupported_family_is_refused():
    from transformers import BertConfig, BertLMHeadModel

    from tokattn.attention.head_decomposition import family_of

    model = BertLMHeadModel(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            is_decoder=True,
        )
    )
    with pytest.raises(NotImplementedError, match="GPT-2 and Llama"):
        family_of(model)
