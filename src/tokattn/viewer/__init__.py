"""Interactive attention viewer (used by rules/report.smk and `tokattn view`): one HTML page from stores.

Takes: attention stores (`attention/{model}/seed{seed}.h5`) and optionally tokenizer folders.
Writes: a self-contained HTML page (the workflow's `report/viewer/`).
Entry points: `build_viewer`; `python -m tokattn.viewer` / `tokattn view` on the command line.

`build_viewer([store.h5, ...], out.html)` writes one page; one store gives the
single-model view, several stores the comparison view aligned on the text's bytes and
words. See docs/viewer.md.
"""

from tokattn.viewer.page import build_viewer

__all__ = ["build_viewer"]
