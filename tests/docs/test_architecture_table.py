"""README's Architecture table is a map a newcomer can trust: every path in it exists,
every rule file and stage package is in it, and each stage's rule file names its package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^## Architecture\n(.*?)(?=^## )", re.M | re.S)
CODE = re.compile(r"`([^`]+)`")
STAGES = ("corpus", "tokenizers", "training", "attention", "evaluation", "report")


def architecture_rows() -> dict[str, list[str]]:
    """Stage -> its table cells (rule file, package folder, tests, results), as written."""
    section = SECTION.search((ROOT / "README.md").read_text("utf-8"))
    assert section, "README.md has no '## Architecture' section"
    rows = {}
    for line in section.group(1).splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        )
        if len(cells) >= 5 and cells[0] not in ("stage", "") and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1:]
    return rows


def paths_in(cell: str) -> list[str]:
    """Repository paths quoted in a cell (`rules/x.smk`, `src/...`, `tests/...`)."""
    return [p for p in CODE.findall(cell) if p.split("/")[0] in {"rules", "src", "tests"}]


def test_the_table_has_every_stage():
    stages = set(architecture_rows())
    assert set(STAGES) <= stages


def test_every_path_in_the_table_exists():
    missing = [
        f"{stage}: {path}"
        for stage, cells in architecture_rows().items()
        for cell in cells[:3]
        for path in paths_in(cell)
        if not (ROOT / path).exists()
    ]
    assert not missing, "README Architecture table names paths that do not exist:\n" + "\n".join(
        missing
    )


def test_every_rule_file_and_stage_package_is_in_the_table():
    named = {p for cells in architecture_rows().values() for c in cells[:3] for p in paths_in(c)}
    rule_files = {f"rules/{p.name}" for p in (ROOT / "rules").glob("*.smk")}
    packages = {
        f"src/tokattn/{p.name}/"
        for p in (ROOT / "src" / "tokattn").iterdir()
        if (p / "__init__.py").exists()
    }
    assert rule_files - named == set(), f"rule files missing from the table: {rule_files - named}"
    assert packages - named == set(), f"packages missing from the table: {packages - named}"


def test_each_stage_rule_file_names_its_package_in_its_header():
    for stage, (rule_cell, package_cell, *_) in architecture_rows().items():
        packages = [p for p in paths_in(package_cell) if p.startswith("src/tokattn/")]
        for rule_file in paths_in(rule_cell):
            header = "".join((ROOT / rule_file).read_text("utf-8").splitlines(keepends=True)[:4])
            dotted = [p.rstrip("/").removeprefix("src/").replace("/", ".") for p in packages]
            assert any(d in header for d in dotted), (
                f"{rule_file} ({stage}) does not name {dotted} in its header:\n{header}"
            )


def test_each_stage_writes_where_the_table_says():
    """A stage's results folders (last column) appear as `{RESULTS}/folder/` in its rules.

    (logs/ and benchmarks/, in the shared row, are written by every rule file.)
    """
    rows = architecture_rows()
    for stage in STAGES:
        cells = rows[stage]
        rules_text = "".join((ROOT / p).read_text("utf-8") for p in paths_in(cells[0]))
        folders = [c for c in CODE.findall(cells[-1]) if c.endswith("/")]
        for folder in folders:
            assert f"{{RESULTS}}/{folder}" in rules_text, (
                f"{stage}: the table says it writes {folder}, its rule files "
                f"{paths_in(cells[0])} do not"
            )
