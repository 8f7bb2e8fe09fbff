"""Refuse a model whose weights or outputs are not finite, naming its folder.

A training run that diverged can still export a model folder; the attention dump and
the evaluation call these checks so that a NaN model never turns into NaN attention
maps or scores with a zero exit status.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

# A fixed short input for the output check: ids after the 4 special tokens of the
# project's tokenizers (taken modulo the vocabulary size for smaller ones).
_SMOKE_IDS = list(range(4, 12))


class NonFiniteModelError(ValueError):
    """A model's weights or outputs hold NaN or infinity; the message names the folder."""


def check_finite_weights(model: torch.nn.Module, folder: str | Path) -> None:
    """Raise NonFiniteModelError when any floating parameter or buffer is NaN or infinite."""
    named = [*model.named_parameters(), *model.named_buffers()]
    bad = []
    for name, tensor in named:
        if tensor.is_floating_point():
            n_bad = int((~torch.isfinite(tensor.detach())).sum())
            if n_bad:
                bad.append(f"{name} ({n_bad} of {tensor.numel()})")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise NonFiniteModelError(
            f"model {folder}: non-finite weights in {shown} — the training run diverged; "
            "retrain it (the trainer stops on a non-finite loss)"
        )


@torch.no_grad()
def check_finite_outputs(model: torch.nn.Module, folder: str | Path) -> None:
    """Raise NonFiniteModelError when the logits of a short fixed input are not finite."""
    vocab = int(model.get_input_embeddings().weight.shape[0])
    device = next(model.parameters()).device
    ids = torch.as_tensor([[i % vocab for i in _SMOKE_IDS]], device=device)
    logits = model(ids).logits
    if not torch.isfinite(logits).all():
        raise NonFiniteModelError(
            f"model {folder}: non-finite logits on a short input "
            f"({int((~torch.isfinite(logits)).sum())} of {logits.numel()} values)"
        )


def check_finite_model(model: torch.nn.Module, folder: str | Path) -> None:
    """Raise NonFiniteModelError unless the weights and a forward pass are finite."""
    check_finite_weights(model, folder)
    check_finite_outputs(model, folder)


def check_finite_arrays(arrays: dict, where: str) -> None:
    """Raise NonFiniteModelError naming the first float array in `arrays` with NaN/inf."""
    for name, value in arrays.items():
        is_float = isinstance(value, np.ndarray) and value.dtype.kind == "f"
        if is_float and not np.isfinite(value).all():
            n_bad = int((~np.isfinite(value)).sum())
            raise NonFiniteModelError(
                f"{where}: {name} holds {n_bad} non-finite values of {value.size}"
            )
