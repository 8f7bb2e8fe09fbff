"""A byte-branch folder exported before the package moved (issue 16) still loads.

tests/data/byte_branch_pre_move holds the code and config that `save_pretrained` wrote
when the model lived in `tokattn.byte_branch`. The saved code imports only torch,
transformers and its own configuration (relatively), and `auto_map` names files in the
folder, not package paths: the folder loads with `trust_remote_code=True` without tokattn,
and through the Auto classes once tokattn.training.byte_branch is imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from tokattn.training.byte_branch import ByteBranchConfig, ByteBranchForCausalLM

PRE_MOVE = Path(__file__).resolve().parents[3] / "data" / "byte_branch_pre_move"


def _old_folder_with_weights(tmp_path: Path) -> tuple[Path, ByteBranchForCausalLM]:
    """Copy the pre-move folder to tmp and give it random weights; return it and the model."""
    folder = tmp_path / "old_export"
    shutil.copytree(PRE_MOVE, folder, ignore=shutil.ignore_patterns("README.md"))
    torch.manual_seed(0)
    model = ByteBranchForCausalLM(ByteBranchConfig.from_pretrained(folder)).eval()
    with torch.no_grad():
        # Random (not zero) gates and byte table, so the byte branch changes the logits.
        for name, param in model.named_parameters():
            if name.endswith(".gate"):
                param.uniform_(-1.0, 1.0)
        model.token_bytes.copy_(torch.randint(0, 256, model.token_bytes.shape))
        model.token_byte_lengths.fill_(model.token_bytes.shape[1])
    fresh = tmp_path / "fresh_export"
    model.save_pretrained(fresh)
    shutil.copy2(fresh / "model.safetensors", folder / "model.safetensors")
    return folder, model


def test_saved_code_imports_no_tokattn_module():
    for name in ("configuration_byte_branch.py", "modeling_byte_branch.py"):
        source = (PRE_MOVE / name).read_text("utf-8")
        assert "import tokattn" not in source and "from tokattn" not in source, name
    auto_map = json.loads((PRE_MOVE / "config.json").read_text("utf-8"))["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_byte_branch.ByteBranchConfig",
        "AutoModelForCausalLM": "modeling_byte_branch.ByteBranchForCausalLM",
    }


def test_pre_move_folder_loads_with_remote_code_and_auto_classes(tmp_path):
    folder, model = _old_folder_with_weights(tmp_path)
    ids = torch.randint(4, 260, (1, 12))
    with torch.no_grad():
        mine = model(input_ids=ids).logits  # (B, T, V)
    torch.save(ids, tmp_path / "ids.pt")
    # A fresh interpreter with tokattn unimportable: only the folder's own code can load it.
    script = f"""
import json, sys, torch
sys.modules["tokattn"] = None
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
with torch.no_grad():
    logits = model(input_ids=torch.load({str(tmp_path / "ids.pt")!r})).logits
torch.save(logits, {str(tmp_path / "out.pt")!r})
print(json.dumps({{"class": type(model).__name__, "module": type(model).__module__}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["class"] == "ByteBranchForCausalLM"
    assert not info["module"].startswith("tokattn")
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), mine, atol=1e-5, rtol=1e-5)

    # In-process, no remote code: the model type maps to the moved, registered class.
    from transformers import AutoModelForCausalLM

    auto = AutoModelForCausalLM.from_pretrained(folder).eval()
    assert type(auto).__module__.startswith("tokattn.training.byte_branch")
    with torch.no_grad():
        torch.testing.assert_close(auto(input_ids=ids).logits, mine, atol=1e-5, rtol=1e-5)
