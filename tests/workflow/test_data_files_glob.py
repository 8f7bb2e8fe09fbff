"""A glob in an hf source's data_files is expanded by the workflow as by the reader."""

from __future__ import annotations

import json

import yaml

from .conftest import TINY_CONFIG, run_snakemake


def _config(workdir, data_files) -> str:
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["corpus"]["sources"].append(
        {
            "name": "mine",
            "type": "hf",
            "path": "json",
            "data_files": data_files,
            "domain": "web",
            "language": "en",
        }  # fmt: skip
    )
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_dry_run_expands_data_files_glob(tmp_path):
    (tmp_path / "data").mkdir()
    for i in range(3):
        (tmp_path / "data" / f"part-{i}.jsonl").write_text(json.dumps({"text": f"doc {i}"}) + "\n")
    config = _config(tmp_path, "data/part-*.jsonl")
    proc = run_snakemake(tmp_path, "--configfile", config, "--cores", "1", "-n", "corpus")
    assert "prepare_corpus" in proc.output

    # The expanded files are the rule's inputs: editing one reruns the corpus stage.
    out = run_snakemake(
        tmp_path, "--configfile", config, "--cores", "1", "-n", "--debug-dag", "corpus"
    ).output
    for i in range(3):
        assert f"data/part-{i}.jsonl" in out, out[-3000:]

    config = _config(tmp_path, "data/none-*.jsonl")
    proc = run_snakemake(tmp_path, "--configfile", config, "--cores", "1", "-n", check=False)
    assert proc.returncode != 0
    assert "'mine'" in proc.output and "none-*.jsonl' matches no file" in proc.output
    assert "MissingInputException" not in proc.output, proc.output[-3000:]
