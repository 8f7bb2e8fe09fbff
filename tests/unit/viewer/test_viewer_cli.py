"""`python -m tokattn.viewer` and `build_viewer` write self-contained pages."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.unit.viewer.stores import synthetic_record
from tokattn.attention.store import AttentionStore
from tokattn.attention.store_writer import AttentionStoreWriter
from tokattn.viewer import build_viewer


def _probe_blocks(page: str) -> dict[str, dict]:
    blocks = re.findall(
        r'<script type="application/json" id="tokattn-probe-\d+">(.*?)</script>', page
    )
    return {b["id"]: b for b in map(json.loads, blocks)}


def test_module_cli_writes_a_self_contained_page(tiny_stores, tmp_path):
    out = tmp_path / "page.html"
    result = subprocess.run(
        [sys.executable, "-m", "tokattn.viewer", str(tiny_stores["byte"]),
         str(tiny_stores["bpe"]), "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = out.read_text("utf-8")
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", page)  # nothing loaded from elsewhere
    assert "window.tokattnViewer" in page and "#controls" in page  # JS and CSS inlined
    probes = _probe_blocks(page)
    with AttentionStore(tiny_stores["byte"]) as store:
        assert sorted(probes) == sorted(store.probe_ids)
    assert [m["name"] for m in probes["mixed-0"]["models"]] == ["tiny-byte seed0", "tiny-bpe seed0"]


def test_probe_selection_and_errors(tiny_stores, tmp_path):
    out = build_viewer([tiny_stores["byte"]], tmp_path / "one.html", probe_ids=["repeat-0"])
    assert list(_probe_blocks(out.read_text("utf-8"))) == ["repeat-0"]
    with pytest.raises(KeyError, match="nope"):
        build_viewer([tiny_stores["byte"]], tmp_path / "x.html", probe_ids=["nope"])
    assert not (tmp_path / "x.html").exists()
    with pytest.raises(ValueError, match="tokenizer folders"):
        build_viewer([tiny_stores["byte"]], tmp_path / "x.html", tokenizer_dirs=[None, None])


def test_text_cannot_break_out_of_the_page(tmp_path):
    record = synthetic_record("evil", n_tokens=40)
    record.text = "</script><script>alert(1)</script> see https://example.org"[:39]
    record.byte_spans[1:] = [[i, i + 1] for i in range(39)]
    store = tmp_path / "evil.h5"
    with AttentionStoreWriter(store, {"model": "m", "seed": 0}, compression="lzf") as writer:
        writer.write(record)
    page = build_viewer([store], tmp_path / "evil.html").read_text("utf-8")
    assert page.count("</script>") == page.count("<script")  # no block closed early
    assert "https://" not in page
    assert _probe_blocks(page)["evil"]["text"] == record.text
