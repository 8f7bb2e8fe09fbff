"""Every supported model family: the lens' last layer is the model's own output, and the
head decomposition sums to what the attention adds to the residual stream.

Each family is a tiny random model built from its transformers config, saved to a local
folder and reloaded with eager attention (no hub). References come from the reloaded
model's own forward pass: its logits, and the residual stream before the layer and after
the attention (the input of the module that follows the attention's residual add).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.tiny_models import save_tiny_byte_branch_model
from tokattn.attention.head_decomposition import (
    FAMILIES,
    architecture,
    family_of,
    head_stats,
    iterative_logit_lens,
    logit_lens,
    run_with_capture,
)

VOCAB = 96
SMALL = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    bos_token_id=0,
    eos_token_id=1,
    pad_token_id=2,
    tie_word_embeddings=False,
)


def _config(model_type: str):
    import transformers as tf

    if model_type == "gpt2":
        return tf.GPT2Config(
            vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0
        )
    extra = {
        "llama": (tf.LlamaConfig, {"attention_bias": True}),
        "mistral": (tf.MistralConfig, {}),
        "qwen2": (tf.Qwen2Config, {}),
        "qwen3": (tf.Qwen3Config, {"head_dim": 8}),
        "olmo": (tf.OlmoConfig, {}),
        "smollm3": (tf.SmolLM3Config, {}),
        "phi3": (tf.Phi3Config, {}),
        "granite": (
            tf.GraniteConfig,
            {"logits_scaling": 8.0, "residual_multiplier": 0.22, "embedding_multiplier": 12.0},
        ),
        "olmo2": (tf.Olmo2Config, {}),
        "gemma2": (tf.Gemma2Config, {"head_dim": 8, "final_logit_softcapping": 2.0}),
    }
    cls, options = extra[model_type]
    return cls(**{**SMALL, **options})


# The module whose input is the residual stream just after the attention's residual add.
AFTER_ATTENTION = {
    "gpt2": "ln_2",
    "olmo2": "mlp",
    "gemma2": "pre_feedforward_layernorm",
}
PLAIN = sorted(set(FAMILIES) - {"tokattn_byte_branch"})


def _randomise(model, seed: int) -> None:
    # Random init leaves biases and norm gains at 0 / 1 and logits near uniform: make every
    # transform matter (biases, gains, and logits large enough for soft-capping to bite).
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if (
                name.endswith("bias")
                or "norm" in name
                or name.endswith(("ln_1.weight", "ln_2.weight"))
            ):
                param.add_(torch.randn(param.shape, generator=gen) * 0.3)
        model.get_output_embeddings().weight.mul_(20)


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory, bpe_tokenizer_dir) -> dict:
    root = tmp_path_factory.mktemp("families")
    out = {}
    for i, model_type in enumerate(PLAIN):
        torch.manual_seed(i)
        model = AutoModelForCausalLM.from_config(_config(model_type))
        _randomise(model, i)
        model.save_pretrained(root / model_type)
        out[model_type] = root / model_type
    out["tokattn_byte_branch"] = save_tiny_byte_branch_model(
        root / "byte_branch", bpe_tokenizer_dir, 64
    )
    return out


def _load(folder):
    import tokattn.training.byte_branch  # noqa: F401  (registers the byte-branch class)

    return AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").eval()


def test_every_family_is_tested():
    assert set(PLAIN) | {"tokattn_byte_branch"} == set(FAMILIES)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_last_layer_lens_is_the_models_own_distribution(model_type, family_dirs):
    model = _load(family_dirs[model_type])
    assert model.config.model_type == model_type
    arch = architecture(model)
    ids = torch.arange(3, 40) % (model.config.vocab_size - 3) + 3
    capture = run_with_capture(model, arch, ids)
    with torch.no_grad():
        logits = model(ids[None]).logits[0].float()  # the model's own forward
    expected = torch.softmax(logits, -1)
    k = 5
    lens_ids, lens_probs = logit_lens(arch, capture.residuals[-1], k)
    top = expected.topk(k, dim=-1)
    np.testing.assert_array_equal(lens_ids.numpy(), top.indices.numpy())
    np.testing.assert_allclose(lens_probs.numpy(), top.values.numpy(), atol=1e-5)
    # Iterative lens step 0 is the plain lens' top-1 under the same transform.
    iter_ids, iter_probs = iterative_logit_lens(arch, capture.residuals[-1], 2)
    np.testing.assert_array_equal(iter_ids[:, 0].numpy(), top.indices[:, 0].numpy())
    np.testing.assert_allclose(iter_probs[:, 0].numpy(), top.values[:, 0].numpy(), atol=1e-5)
    if model_type in ("granite", "gemma2"):
        # The transform matters here: lm_head(norm(h)) alone is a different distribution.
        raw = torch.softmax(arch.lm_head(arch.final_norm(capture.residuals[-1])).float(), -1)
        assert (raw.max(-1).values - expected.max(-1).values).abs().max() > 0.05


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_head_contributions_sum_to_what_enters_the_residual(model_type, family_dirs):
    model = _load(family_dirs[model_type]).double()
    arch = architecture(model)
    ids = torch.arange(3, 30) % (model.config.vocab_size - 3) + 3
    before, after = {}, {}
    hooks = []
    for i, layer in enumerate(arch.layers):
        block = layer.block
        hooks.append(
            block.register_forward_pre_hook(
                lambda m, a, kw, i=i: before.__setitem__(
                    i, (a[0] if a else kw["hidden_states"])[0]
                ),
                with_kwargs=True,
            )
        )
        name = AFTER_ATTENTION.get(model_type, "post_attention_layernorm")
        hooks.append(
            getattr(block, name).register_forward_pre_hook(
                lambda m, a, i=i: after.__setitem__(i, a[0][0])
            )
        )
    try:
        capture = run_with_capture(model, arch, ids)
    finally:
        for h in hooks:
            h.remove()
    for i, layer in enumerate(arch.layers):
        delta = (after[i] - before[i]).double().numpy()  # [pos, d]: what the attention added
        z = capture.head_inputs[i].double().numpy()  # [pos, head * d_head]
        o = capture.attn_outputs[i].double().numpy()  # [pos, d]: output of W_O
        weight = layer.out_proj.weight.detach().double().numpy()
        w = weight if layer.transposed else weight.T  # [head * d_head, d]
        d_head = layer.head_dim
        contrib = np.stack(
            [
                z[:, h * d_head : (h + 1) * d_head] @ w[h * d_head : (h + 1) * d_head]
                for h in range(layer.n_heads)
            ]
        )  # [head, pos, d], raw W_O slices
        # Elementwise map from o to what enters (a constant, or the frozen-scale norm gain).
        ratio = np.divide(delta, o, out=np.zeros_like(o), where=np.abs(o) > 1e-9)
        entered = contrib * ratio[None]  # [head, pos, d]
        bias = getattr(layer.out_proj, "bias", None)
        bias_entered = (
            np.zeros_like(delta) if bias is None else bias.detach().double().numpy()[None] * ratio
        )
        stats = head_stats(layer, capture.head_inputs[i], capture.attn_outputs[i])
        sq = (delta**2).sum(-1)
        want_add = (entered * delta[None]).sum(-1) / sq
        want_bias = (bias_entered * delta).sum(-1) / sq
        np.testing.assert_allclose(stats.additive.numpy(), want_add, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(stats.bias_additive.numpy(), want_bias, atol=1e-4)
        np.testing.assert_allclose(
            stats.additive.numpy().sum(0) + stats.bias_additive.numpy(), 1, atol=1e-4
        )
        np.testing.assert_allclose(
            stats.norm.numpy(), np.linalg.norm(entered, axis=-1), rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(
            stats.out_norm.numpy(), np.linalg.norm(delta, axis=-1), rtol=1e-4
        )
        assert stats.max_error < 1e-4 * max(1.0, float(np.abs(delta).max()))


def test_unknown_family_is_refused_even_with_a_llama_layout():
    from transformers import CohereConfig, CohereForCausalLM

    # Cohere has q/k/v/o_proj and model.norm, like Llama, but scales its logits.
    model = CohereForCausalLM(CohereConfig(**{**SMALL, "logit_scale": 0.5}))
    with pytest.raises(NotImplementedError, match="'cohere'"):
        family_of(model)
    with pytest.raises(NotImplementedError, match="'cohere'"):
        architecture(model)
