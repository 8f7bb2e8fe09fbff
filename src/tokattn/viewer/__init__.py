"""Interactive attention viewer: a self-contained HTML page built from attention stores.

`build_viewer([store.h5, ...], out.html)` writes one page; one store gives the
single-model view, several stores the comparison view aligned on the text's bytes and
words. See docs/viewer.md.
"""

from tokattn.viewer.page import build_viewer

__all__ = ["build_viewer"]
