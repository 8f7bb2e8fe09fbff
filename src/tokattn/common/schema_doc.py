"""The config reference (docs/config.md) generated from config/schema.yaml.

Run `python -m tokattn.common.schema_doc > docs/config.md`; a test fails when the file is
out of date.
"""

from __future__ import annotations

from pathlib import Path

from tokattn.common.config import SCHEMA_PATH, load_schema


def _walk_schema(schema: dict, root: dict, prefix: str, rows: list[tuple[str, str, str, str]]):
    if "$ref" in schema:
        ref = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            ref = ref[part]
        schema = {**ref, **{k: v for k, v in schema.items() if k != "$ref"}}
    props = schema.get("properties", {})
    required = set(schema.get("required", []))
    for key, sub in props.items():
        full = f"{prefix}.{key}" if prefix else key
        resolved = sub
        if "$ref" in sub:
            resolved = root
            for part in sub["$ref"].lstrip("#/").split("/"):
                resolved = resolved[part]
            resolved = {**resolved, **{k: v for k, v in sub.items() if k != "$ref"}}
        kind = resolved.get("type", "")
        if "enum" in resolved:
            kind = " \\| ".join(str(v) for v in resolved["enum"])
        elif isinstance(kind, list):
            kind = " \\| ".join(kind)
        if key in required:
            default = "required"
        else:
            default = f"`{resolved['default']!r}`" if "default" in resolved else "—"
        desc = " ".join(str(resolved.get("description", "")).split())
        rows.append((full, str(kind), default, desc))
        if resolved.get("type") == "object":
            _walk_schema(resolved, root, full, rows)
        elif resolved.get("type") == "array" and isinstance(resolved.get("items"), dict):
            _walk_schema(resolved["items"], root, f"{full}[]", rows)


def schema_markdown(schema_path: str | Path = SCHEMA_PATH) -> str:
    """Return the config reference as a Markdown table generated from the schema."""
    schema = load_schema(schema_path)
    rows: list[tuple[str, str, str, str]] = []
    _walk_schema(schema, schema, "", rows)
    lines = [
        "# Configuration reference",
        "",
        "Generated from `config/schema.yaml` by `python -m tokattn.common.schema_doc > docs/config.md`;",
        "a test fails when this file is out of date. Unknown keys are errors.",
        "",
        "| key | type | default | description |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k}` | {t} | {d} | {desc} |" for k, t, d, desc in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(schema_markdown(), end="")
