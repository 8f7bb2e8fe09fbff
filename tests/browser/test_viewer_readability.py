"""The viewer page is readable: token text at the default zoom, a colour legend, the weight
under the pointer, no timing text, and tooltips inside the window (issue 14)."""

from __future__ import annotations

import math
import re

import h5py
import numpy as np
from selenium.webdriver.common.actions.action_builder import ActionBuilder

from tests.browser.test_viewer_page import API, WHITE, console_errors, js, open_page
from tests.unit.viewer.stores import synthetic_record
from tokattn.viewer import build_viewer
from tokattn.viewer.page import render_page, write_page
from tokattn.viewer.payload import LEVELS, probe_payload

QUANTUM = 0.5 / LEVELS  # the page keeps weights as round(w * 255) / 255
TIMING = re.compile(r"\d+(\.\d+)? ?ms\b")


def set_probe(driver, probe_id: str) -> None:
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"{API}.setProbe({probe_id!r}).then(() => done('ok'), (e) => done(String(e)));"
    )
    assert status == "ok", status


def hover(driver, layer: int, pos: int, model: int = 0) -> dict:
    """Move the mouse onto a token's block (from outside the canvas, so a move event fires);
    return the pointer's position."""
    centre = js(driver, f"{API}.tokenCentre({layer}, {pos}, {model})")
    return hover_at(driver, int(centre["x"]), int(centre["y"]))


def hover_at(driver, x: int, y: int) -> dict:
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(2, 2).move_to_location(x, y)
    actions.perform()
    return {"x": x, "y": y}


def tooltip_rect(driver) -> dict:
    return js(
        driver,
        "(() => { const r = document.getElementById('tooltip').getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
        " hidden: document.getElementById('tooltip').hidden,"
        " width: Math.min(window.innerWidth, document.documentElement.clientWidth),"
        " height: Math.min(window.innerHeight, document.documentElement.clientHeight)}; })()",
    )


def stored_weight(path, probe_id: str, layer: int, head: int, q: int, k: int) -> float:
    """The weight as the store holds it, read with h5py (packed lower triangle)."""
    with h5py.File(path, "r") as f:
        packed = f["probes"][probe_id]["attention"][layer, head]
    return float(packed[q * (q + 1) // 2 + k])


def test_default_zoom_shows_token_text(driver, tiny_stores, tmp_path):
    stores = [tiny_stores["byte"], tiny_stores["bpe"]]
    page = build_viewer(stores, tmp_path / "zoom.html", probe_ids=["repeat-0", "mixed-0"])
    open_page(driver, page)
    for probe_id in ("repeat-0", "mixed-0"):
        set_probe(driver, probe_id)
        assert js(driver, f"{API}.state().zoom") == js(driver, f"{API}.fitZoom()")
        whole = total = 0
        for model in (0, 1):
            labels = js(driver, f"{API}.blockLabels(0, {model})")
            shown = js(driver, f"{API}.shownLabels(0, {model})")
            assert "·" not in shown
            whole += sum(s == t for s, t in zip(shown[1:], labels[1:], strict=True))  # not BOS
            total += len(labels) - 1
        assert whole / total >= 0.95, (probe_id, whole, total)
    # Zoomed out, most byte tokens are too narrow for their text: shortened or left empty,
    # never cut silently, and hovering one shows its whole text.
    driver.execute_script(f"{API}.setZoom(3)")
    labels = js(driver, f"{API}.blockLabels(1, 0)")
    shown = js(driver, f"{API}.shownLabels(1, 0)")
    narrow = [k for k in range(1, len(labels)) if shown[k] != labels[k]]
    assert len(narrow) > len(labels) // 2
    assert all(s == "" or s.endswith("…") for k, s in enumerate(shown) if k in narrow)
    for pos in (narrow[0], narrow[len(narrow) // 2]):
        hover(driver, 1, pos)
        assert js(driver, f"{API}.tooltipText()").split("\n")[0] == f"“{labels[pos]}”"
    # A zoom chosen by hand is kept when the probe changes.
    set_probe(driver, "repeat-0")
    assert js(driver, f"{API}.state().zoom") == 3
    assert console_errors(driver) == []


def test_colour_legend_shows_the_scale(driver, tiny_stores, tmp_path):
    page = build_viewer([tiny_stores["byte"]], tmp_path / "legend.html", probe_ids=["repeat-0"])
    open_page(driver, page)
    bar = js(driver, "document.getElementById('scale-bar').getBoundingClientRect().toJSON()")
    assert bar["width"] >= 100 and bar["height"] >= 6
    style = js(driver, "getComputedStyle(document.getElementById('scale-bar')).backgroundImage")
    assert "rgb(255, 255, 255)" in style and "rgb(33, 78, 172)" in style  # weight 0 .. 1
    title = js(driver, "document.getElementById('scale-title').textContent")
    assert "attention weight, 0 to 1" in title and "square-root" in title
    ticks = js(
        driver,
        "[...document.querySelectorAll('#scale-ticks span')].map((e) => {"
        " const r = e.getBoundingClientRect(); return [e.textContent, (r.left + r.right) / 2]; })",
    )
    assert [t for t, _ in ticks] == ["0", "0.01", "0.05", "0.1", "0.25", "0.5", "1"]
    for text, x in ticks:  # each tick where its weight's colour is on the bar
        assert abs(x - (bar["left"] + bar["width"] * math.sqrt(float(text)))) < 2, text

    # With a token selected the legend gives the largest weight shown (mean over heads).
    driver.execute_script(f"{API}.selectToken(1, 20)")
    assert js(driver, f"{API}.blockColours(1)")[21] == WHITE  # a 0 weight: the bar's left end
    with h5py.File(tiny_stores["byte"], "r") as f:
        packed = f["probes"]["repeat-0"]["attention"][()]  # [layer, head, packed]
    row = packed[:, :, 20 * 21 // 2 : 20 * 21 // 2 + 21].astype(np.float64)  # [layer, head, k]
    largest = row.mean(axis=1).max()
    title = js(driver, "document.getElementById('scale-title').textContent")
    shown = float(re.search(r"largest now (\d\.\d{3})", title).group(1))
    assert abs(shown - largest) <= 0.0005 + QUANTUM + 1e-6, (shown, largest)

    driver.execute_script(f"{API}.setMode('certainty')")
    title = js(driver, "document.getElementById('scale-title').textContent")
    assert "logit-lens top-1 probability" in title and "linear" in title
    ticks = js(
        driver, "[...document.querySelectorAll('#scale-ticks span')].map((e) => e.textContent)"
    )
    assert ticks == ["0", "0.25", "0.5", "0.75", "1"]
    assert console_errors(driver) == []


def test_no_timing_text_in_the_page(driver, tiny_stores, tmp_path):
    stores = [tiny_stores["byte"], tiny_stores["bpe"]]
    page = build_viewer(stores, tmp_path / "quiet.html")
    open_page(driver, page)

    def visible_text() -> str:
        return js(driver, "document.body.innerText")

    assert not TIMING.search(visible_text()), visible_text()
    driver.execute_script(f"{API}.selectToken(1, 5)")
    hover(driver, 1, 3)
    assert not js(driver, "document.getElementById('tooltip').hidden")
    assert not TIMING.search(visible_text()), visible_text()
    set_probe(driver, "mixed-0")
    assert not TIMING.search(visible_text()), visible_text()
    timings = js(driver, f"{API}.timings()")  # still there for benchmarks, through the API
    assert timings["decodeMs"] > 0 and timings["drawMs"] > 0
    assert console_errors(driver) == []


def test_hover_names_query_key_head_and_weight(driver, tiny_stores, tmp_path):
    path = tiny_stores["byte"]
    page = build_viewer([path], tmp_path / "hover.html", probe_ids=["repeat-0"])
    open_page(driver, page)
    labels = js(driver, f"{API}.blockLabels(1)")
    pattern = re.compile(
        r"query “(.*?)” \(token (\d+)\) → key “(.*?)” \(token (\d+)\): "
        r"attention weight (\d\.\d{3}) \(layer (\d+), (.*?)\)"
    )
    q, layer, head = 20, 1, 3
    weights = [stored_weight(path, "repeat-0", layer, head, q, k) for k in range(q + 1)]
    key = 1 + int(np.argmax(weights[1:q]))  # the largest weight off BOS and off itself

    def hovered() -> tuple:
        found = pattern.search(js(driver, f"{API}.tooltipText()"))
        assert found, js(driver, f"{API}.tooltipText()")
        return found.groups()

    driver.execute_script(f"{API}.selectToken({layer}, {q}); {API}.setHead({head})")
    hover(driver, layer, key)
    got = hovered()
    assert got[:4] == (labels[q], str(q), labels[key], str(key))
    assert got[5:] == (str(layer), f"head {head}")
    assert abs(float(got[4]) - weights[key]) <= 0.0005 + QUANTUM + 1e-6, (got, weights[key])
    assert weights[key] > 0.01  # a weight worth reading, not a 0.000 that always matches

    mean = np.mean(
        [stored_weight(path, "repeat-0", layer, h, q, key) for h in range(4)], dtype=np.float64
    )
    driver.execute_script(f"{API}.setHead(-1)")
    hover(driver, layer, key)
    got = hovered()
    assert got[6] == "mean over 4 heads"
    assert abs(float(got[4]) - mean) <= 0.0005 + QUANTUM + 1e-6, (got, mean)

    # "attended by": the selected token is the key, the hovered one the query.
    driver.execute_script(f"{API}.setDirection('from'); {API}.selectToken({layer}, {key})")
    hover(driver, layer, q)
    got = hovered()
    assert got[:4] == (labels[q], str(q), labels[key], str(key))
    assert abs(float(got[4]) - mean) <= 0.0005 + QUANTUM + 1e-6, (got, mean)
    assert console_errors(driver) == []


def test_tooltip_stays_inside_the_window(driver, tmp_path):
    record = synthetic_record("edge-0", n_tokens=300, n_layers=16, n_heads=2)
    page = write_page(render_page([probe_payload([("m", record)])], "edge"), tmp_path / "e.html")
    size = driver.get_window_size()
    driver.set_window_size(900, 600)
    try:
        open_page(driver, page)
        driver.execute_script(f"{API}.selectToken(0, 150)")
        # The last token of the lowest row, scrolled to the bottom-right corner of the window.
        centre = js(driver, f"{API}.tokenCentre(0, 299, 0)")
        inner = js(driver, "window.innerHeight")
        before = js(driver, "window.scrollY")
        driver.execute_script(f"window.scrollBy(0, {centre['y'] - (inner - 14)})")
        y = centre["y"] - (js(driver, "window.scrollY") - before)
        rect = tooltip_rect(driver)
        assert rect["width"] - centre["x"] < 40 and inner - y < 30  # really at the corner
        pointer = hover_at(driver, int(centre["x"]), int(y))
        rect = tooltip_rect(driver)
        assert not rect["hidden"] and "token 299" in js(driver, f"{API}.tooltipText()")
        assert rect["left"] >= 0 and rect["right"] <= rect["width"], rect
        assert rect["top"] >= 0 and rect["bottom"] <= rect["height"], rect
        assert rect["right"] <= pointer["x"] and rect["bottom"] <= pointer["y"]  # flipped

        # Away from the edges it stays below and right of the pointer.
        driver.execute_script(
            "window.scrollTo(0, 0); document.getElementById('scroller').scrollLeft = 0"
        )
        pointer = hover(driver, 15, 3)
        rect = tooltip_rect(driver)
        assert rect["left"] > pointer["x"] and rect["top"] > pointer["y"], (rect, pointer)
        assert rect["right"] <= rect["width"] and rect["bottom"] <= rect["height"], rect
    finally:
        driver.set_window_size(size["width"], size["height"])
    assert console_errors(driver) == []
