"""Config keys of the attention stage: `probes`, `attention`, `pretrained`, resources."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tokattn.common.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[3]
TINY = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
GPT2 = {"name": "gpt2_local", "path": "/models/gpt2"}


def _with(**sections):
    cfg = copy.deepcopy(TINY)
    cfg.update(sections)
    return cfg


def test_defaults_are_filled():
    cfg = validate_config({k: v for k, v in TINY.items() if k not in ("probes", "attention")})
    assert cfg["probes"]["max_bytes"] == 256 and cfg["probes"]["stress_per_kind"] == 2
    assert cfg["attention"]["compression"] == "blosc2" and cfg["attention"]["top_k"] == 5
    assert cfg["pretrained"] == []
    cfg = validate_config(_with(pretrained=[GPT2]))
    assert cfg["pretrained"][0]["hub"] is False


@pytest.mark.parametrize(
    ("sections", "key"),
    [
        ({"attention": {"compression": "snappy"}}, "attention.compression"),
        ({"attention": {"dtype": "int8"}}, "attention.dtype"),
        ({"attention": {"top_k": 0}}, "attention.top_k"),
        ({"attention": {"topk": 3}}, "attention.topk"),
        ({"probes": {"max_bytes": 10}}, "probes.max_bytes"),
        ({"probes": {"stress_kinds": ["typos", "palindromes"]}}, "probes.stress_kinds[1]"),
        ({"pretrained": [{"name": "x"}]}, "pretrained[0].path"),
        ({"pretrained": [GPT2, GPT2]}, "pretrained[1].name"),
        ({"pretrained": [{**GPT2, "name": "byte"}]}, "pretrained[0].name"),
        ({"pretrained": [{**GPT2, "revision": "main"}]}, "pretrained[0].revision"),
    ],
)
def test_bad_attention_config_names_the_key(sections, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        validate_config(_with(**sections))


def test_bad_attention_resources_name_the_key():
    cfg = copy.deepcopy(TINY)
    cfg["resources"]["attention"] = {"gpu": 2}
    with pytest.raises(ConfigError, match=r"resources\.attention\.gpu"):
        validate_config(cfg)
