"""Byte-level branch: a small causal byte decoder beside the token decoder, cross-attended.

Importing this package registers `ByteBranchConfig` / `ByteBranchForCausalLM` with
`AutoConfig` and `AutoModelForCausalLM` (model type "tokattn_byte_branch") and marks them
for auto_map, so a saved folder loads through the Auto classes once tokattn.training.byte_branch
is imported, or with `trust_remote_code=True` without tokattn. See docs/byte-branch.md.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModelForCausalLM

from tokattn.training.byte_branch.configuration_byte_branch import (
    ByteBranchConfig,
    resolve_cross_layers,
)
from tokattn.training.byte_branch.modeling_byte_branch import (
    BOS_BYTE,
    PAD_BYTE,
    ByteBranchForCausalLM,
    sliding_window_attention,
)
from tokattn.training.byte_branch.token_bytes import table_bytes, token_byte_table

AutoConfig.register(ByteBranchConfig.model_type, ByteBranchConfig, exist_ok=True)
AutoModelForCausalLM.register(ByteBranchConfig, ByteBranchForCausalLM, exist_ok=True)
ByteBranchConfig.register_for_auto_class()
ByteBranchForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = [
    "BOS_BYTE",
    "PAD_BYTE",
    "ByteBranchConfig",
    "ByteBranchForCausalLM",
    "resolve_cross_layers",
    "sliding_window_attention",
    "table_bytes",
    "token_byte_table",
]
