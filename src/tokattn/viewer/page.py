"""Build the self-contained viewer page from one or more attention stores.

The page is one HTML file: the stylesheet and script shipped in `tokattn/viewer/assets/`
are inlined, and every probe's payload sits in its own `<script type="application/json">`
block, parsed only when that probe is shown. Nothing is fetched at view time.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

from tokattn.attention.store import AttentionStore
from tokattn.common.atomic_files import write_text_atomic
from tokattn.viewer.payload import probe_payload, token_decoder


def _asset(name: str) -> str:
    return resources.files("tokattn.viewer").joinpath("assets").joinpath(name).read_text("utf-8")


def _script_json(value) -> str:
    """Return JSON safe inside a <script> block, with no '://' (no URL-looking text)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("://", ":\\/\\/")


def _store_tokenizer(store: AttentionStore, given: Path | None) -> Path | None:
    """Return the folder to decode lens ids with: the given one, else the store's model_path."""
    if given is not None:
        return Path(given)
    model_path = str(store.attrs.get("model_path", "") or "")
    if model_path and (Path(model_path) / "tokenizer.json").is_file():
        return Path(model_path)
    return None


def _model_names(stores: list[AttentionStore]) -> list[str]:
    names = []
    for store in stores:
        base = str(store.attrs.get("model", "") or store.path.stem)
        seed = store.attrs.get("seed", "")
        name = f"{base} seed{seed}" if seed != "" else base
        while name in names:  # the same model twice (e.g. two checkpoints): keep names apart
            name = f"{name}′"
        names.append(name)
    return names


def _probe_order(stores: list[AttentionStore], probe_ids: list[str] | None) -> list[str]:
    if probe_ids is not None:
        for probe_id in probe_ids:
            if not any(probe_id in store for store in stores):
                paths = ", ".join(str(s.path) for s in stores)
                raise KeyError(f"probe {probe_id!r} is in none of the stores ({paths})")
        return list(probe_ids)
    order: list[str] = []
    seen: set[str] = set()
    for store in stores:
        for probe_id in store.probe_ids:
            if probe_id not in seen:
                seen.add(probe_id)
                order.append(probe_id)
    return order


def build_viewer(
    store_paths: list[Path],
    out_html: Path,
    probe_ids: list[str] | None = None,
    tokenizer_dirs: list[Path | None] | None = None,
    title: str = "",
) -> Path:
    """Write the viewer page for the stores (several: comparison mode); return its path."""
    store_paths = [Path(p) for p in store_paths]
    if not store_paths:
        raise ValueError("build_viewer needs at least one attention store")
    tokenizer_dirs = list(tokenizer_dirs) if tokenizer_dirs else [None] * len(store_paths)
    if len(tokenizer_dirs) != len(store_paths):
        raise ValueError(
            f"{len(tokenizer_dirs)} tokenizer folders for {len(store_paths)} stores "
            "(give one per store, or none)"
        )
    stores = [AttentionStore(p) for p in store_paths]
    try:
        names = _model_names(stores)
        decoders = [
            token_decoder(_store_tokenizer(store, tok))
            for store, tok in zip(stores, tokenizer_dirs, strict=True)
        ]
        payloads = []
        for probe_id in _probe_order(stores, probe_ids):
            present = [k for k, store in enumerate(stores) if probe_id in store]
            payloads.append(
                probe_payload(
                    [(names[k], stores[k].record(probe_id)) for k in present],
                    [decoders[k] for k in present],
                )
            )
    finally:
        for store in stores:
            store.close()
    page = render_page(payloads, title or ("Attention viewer: " + " vs ".join(names)))
    return write_page(page, out_html)


def render_page(payloads: list[dict], title: str) -> str:
    """Return the page's HTML for probe payloads (`payload.probe_payload`), assets inlined."""
    names: list[str] = []
    for payload in payloads:
        names += [m["name"] for m in payload["models"] if m["name"] not in names]
    index = [
        {
            "id": p["id"],
            "kind": p["kind"],
            "language": p["language"],
            "n_bytes": p["n_bytes"],
            "models": [m["name"] for m in p["models"]],
        }
        for p in payloads
    ]
    blocks = [
        f'<script type="application/json" id="tokattn-probe-{i}">{_script_json(p)}</script>'
        for i, p in enumerate(payloads)
    ]
    meta = {"title": title, "models": names, "probes": index}
    return (
        _asset("viewer.html")
        .replace("__TITLE__", html.escape(title))
        .replace("/*__CSS__*/", _asset("viewer.css"))
        .replace("/*__JS__*/", _asset("viewer.js"))
        .replace(  # last: probe texts may contain anything
            "<!--__DATA__-->",
            f'<script type="application/json" id="tokattn-index">{_script_json(meta)}</script>\n'
            + "\n".join(blocks),
        )
    )


def write_page(page: str, out_html: Path) -> Path:
    """Write the page atomically (temp file + rename); return its path."""
    return write_text_atomic(out_html, page)
