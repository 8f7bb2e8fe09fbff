"""The viewer page in headless Chromium: loads cleanly, reacts to clicks and modes."""

from __future__ import annotations

import time

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder

from tests.unit.viewer.stores import cross_record, synthetic_record
from tokattn.attention.projection import project_maps, project_record, unit_spans
from tokattn.attention.store import AttentionStore
from tokattn.viewer import build_viewer
from tokattn.viewer.page import render_page, write_page
from tokattn.viewer.payload import probe_payload

API = "window.tokattnViewer"
NEUTRAL = "rgb(236,238,242)"
WHITE = "rgb(255,255,255)"


def open_page(driver, path, timeout_s: float = 120.0) -> float:
    """Load a page, wait until its first probe is decoded and drawn; return seconds taken."""
    driver.get_log("browser")  # drop what earlier pages logged
    t0 = time.perf_counter()
    driver.get(path.resolve().as_uri())
    driver.set_script_timeout(timeout_s)
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"{API}.ready().then(() => done('ok'), (e) => done(String(e)));"
    )
    assert status == "ok", status
    return time.perf_counter() - t0


def js(driver, expr: str):
    return driver.execute_script(f"return {expr};")


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def real_click(driver, layer: int, pos: int, model: int = 0) -> None:
    """Click with the mouse at the token's block on screen (not through the testing hook)."""
    centre = js(driver, f"{API}.tokenCentre({layer}, {pos}, {model})")
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(centre["x"]), int(centre["y"])).click()
    actions.perform()


def screenshot(driver, artifacts, name: str) -> None:
    path = artifacts / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def test_single_model_page(driver, tiny_stores, tmp_path, artifacts):
    page = build_viewer([tiny_stores["byte"]], tmp_path / "single.html", probe_ids=["repeat-0"])
    open_page(driver, page)
    assert console_errors(driver) == []
    assert js(driver, f"{API}.state().models[0].L") == 2
    before = js(driver, f"{API}.blockColours(1)")
    assert set(before) == {NEUTRAL}  # nothing selected yet

    real_click(driver, layer=1, pos=20)
    selection = js(driver, f"{API}.state().selection")
    assert selection == {"kind": "token", "model": 0, "layer": 1, "pos": 20}
    clicked = js(driver, f"{API}.blockColours(1)")
    assert clicked != before and len(set(clicked)) > 2  # weights, not one colour
    assert all(c == WHITE for c in clicked[21:])  # causal: nothing after the query
    screenshot(driver, artifacts, "viewer-single-attention.png")

    # The page decodes the store's weights (independent decode: the reader's own maps).
    with AttentionStore(tiny_stores["byte"]) as store:
        record = store.record("repeat-0")
    for layer, head in [(0, 0), (1, 3)]:
        row = np.array(js(driver, f"{API}.attentionRow(0, {layer}, {head}, 20)"))
        assert np.abs(row - record.attention_map(layer, head)[20]).max() <= 1 / 255 + 1e-6
    mean = np.array(js(driver, f"{API}.attentionRow(0, 1, -1, 20)"))
    assert np.abs(mean - record.attention_maps(1)[:, 20].mean(0)).max() <= 1 / 255 + 1e-6

    driver.execute_script(f"{API}.setMode('certainty')")
    certainty = js(driver, f"{API}.blockColours(1)")
    assert certainty != clicked
    labels = js(driver, f"{API}.blockLabels(1)")
    assert labels != js(driver, f"{API}.state().models[0].T") and len(labels) == record.n_tokens
    screenshot(driver, artifacts, "viewer-single-certainty.png")

    driver.execute_script(f"{API}.setMode('attention'); {API}.setHead(2)")
    assert js(driver, f"{API}.blockColours(1)") not in (clicked, certainty)
    driver.execute_script(f"{API}.setHead(-1); {API}.setDirection('from')")
    column = js(driver, f"{API}.blockColours(1)")
    assert column != clicked and all(c == WHITE for c in column[:20])  # earlier queries
    driver.execute_script(f"{API}.setDirection('to'); {API}.setThreshold(0)")
    many = js(driver, f"{API}.lineCount()")
    driver.execute_script(f"{API}.setThreshold(0.3)")
    few = js(driver, f"{API}.lineCount()")
    assert many > few and many >= 20  # the threshold hides lines
    assert console_errors(driver) == []


def test_comparison_page(driver, tiny_stores, tmp_path, artifacts):
    stores = [tiny_stores["byte"], tiny_stores["bpe"]]
    page = build_viewer(stores, tmp_path / "compare.html", probe_ids=["mixed-0"])
    open_page(driver, page)
    assert console_errors(driver) == []
    assert [m["name"] for m in js(driver, f"{API}.state().models")] == [
        "tiny-byte seed0",
        "tiny-bpe seed0",
    ]
    records = []
    for path in stores:
        with AttentionStore(path) as store:
            records.append(store.record("mixed-0"))
    text_bytes = records[0].text.encode("utf-8")
    # "Köln!" is word 2; click its last byte token ("!") in the byte-level model.
    word = 2
    pos = next(k for k, (s, e) in enumerate(records[0].byte_spans) if text_bytes[s:e] == b"!")
    real_click(driver, layer=0, pos=pos, model=0)
    selection = js(driver, f"{API}.state().selection")
    assert selection["kind"] == "word" and selection["words"] == [word, word]
    for m, record in enumerate(records):
        spans = record.byte_spans
        lo, hi = unit_spans(record.text, "word")[word]  # " Köln!", space included
        assert text_bytes[lo:hi] == " Köln!".encode()
        expected = [k for k, (s, e) in enumerate(spans) if e > s and s < hi and e > lo]
        assert js(driver, f"{API}.highlighted({m})") == expected
        colours = js(driver, f"{API}.blockColours(0, {m})")
        assert NEUTRAL not in colours[1:] and len(set(colours)) > 1
        # The page's word frame agrees with tokattn.attention.projection on the same maps.
        maps, _ = project_record(record, "word", layers=[0])
        _, mass = project_maps(
            record.attention_maps(0), record.byte_spans, unit_spans(record.text, "word"), True
        )
        for head in (0, 3):
            row = np.array(js(driver, f"{API}.projectedRow({m}, 0, {head}, {word})"))
            assert np.abs(row - maps[0, head, word]).max() < 0.02
            # The mass kept off BOS before renormalising, as tokattn.attention.projection has it.
            kept = js(driver, f"{API}.projectedMass({m}, 0, {head}, {word})")
            assert abs(kept - mass[head, word]) < 0.02
            column = np.array(js(driver, f"{API}.projectedColumn({m}, 0, {head}, {word})"))
            assert np.abs(column - maps[0, head, :, word]).max() < 0.02
    info = js(driver, f"{API}.infoText()")
    assert "attention mass on the text, layer 0" in info and "dropped on BOS" in info
    screenshot(driver, artifacts, "viewer-compare.png")
    driver.execute_script(f"{API}.setDirection('from')")
    column_colours = js(driver, f"{API}.blockColours(0, 1)")
    assert column_colours != colours
    driver.execute_script(f"{API}.setDirection('to')")
    driver.execute_script(f"{API}.setMode('certainty')")
    assert js(driver, f"{API}.blockColours(0, 1)") != colours
    assert console_errors(driver) == []


def test_iterative_lens_tooltip_says_which_distribution(driver, tmp_path):
    record = synthetic_record("iter-0", n_tokens=30, n_layers=2, n_heads=2)
    rng = np.random.default_rng(3)
    record.iter_lens_ids = rng.integers(4, 200, (2, 30, 2)).astype(np.int32)
    record.iter_lens_probs = rng.random((2, 30, 2)).astype(np.float32)
    page = write_page(render_page([probe_payload([("m", record)])], "iter"), tmp_path / "i.html")
    open_page(driver, page)
    text = js(driver, f"{API}.iterLens(0, 1, 7)")
    assert "under the j-th re-decoded distribution" in text and "not the original" in text
    for j in range(2):
        token, p = int(record.iter_lens_ids[1, 7, j]), record.iter_lens_probs[1, 7, j]
        assert f"{j}: “#{token}” {np.round(np.rint(p * 255) / 255, 2):.2f}" in text
    centre = js(driver, f"{API}.tokenCentre(1, 7, 0)")
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(centre["x"]), int(centre["y"]))
    actions.perform()
    tip = js(driver, f"{API}.tooltipText()")
    assert "re-decoded distribution" in tip and "attention on BOS" in tip
    assert console_errors(driver) == []


def test_cross_attention_rows(driver, tmp_path, artifacts):
    record = cross_record(synthetic_record("bytes-0", n_tokens=40, n_layers=2, n_heads=2), (1,))
    page = write_page(render_page([probe_payload([("byte-branch", record)])], "cross"),
                      tmp_path / "cross.html")  # fmt: skip
    open_page(driver, page)
    assert js(driver, f"{API}.byteColours(0)") is None  # layer 0 has no cross-attention
    assert set(js(driver, f"{API}.byteColours(1)")) == {NEUTRAL}
    real_click(driver, layer=1, pos=10)
    colours = js(driver, f"{API}.byteColours(1)")
    end = int(record.token_byte_ends[10])  # bytes the token may look at: frame [0, end)
    assert all(c == WHITE for c in colours[end:])
    assert len(set(colours[:end])) > 2
    screenshot(driver, artifacts, "viewer-cross.png")
    assert console_errors(driver) == []


@pytest.mark.parametrize("n_tokens", [2048])
def test_long_probe_stays_responsive(driver, long_store, tmp_path, artifacts, n_tokens):
    page = build_viewer([long_store], tmp_path / "long.html")
    size_mb = page.stat().st_size / 1e6
    load_s = open_page(driver, page, timeout_s=300)
    timings = js(driver, f"{API}.timings()")
    print(f"2,048-token page: {size_mb:.2f} MB, load {load_s:.2f} s, {timings}")
    assert js(driver, f"{API}.state().models[0].T") == n_tokens
    real_click(driver, layer=3, pos=2000)  # scrolls the canvas there first
    assert js(driver, f"{API}.state().selection")["pos"] == 2000
    colours = js(driver, f"{API}.blockColours(3)")
    assert len(colours) == n_tokens and len(set(colours)) > 10
    # Scrolling and a second click still answer (no frozen page).
    t0 = time.perf_counter()
    real_click(driver, layer=0, pos=100)
    ActionChains(driver).scroll_by_amount(0, 0).perform()
    assert js(driver, f"{API}.state().selection")["pos"] == 100
    assert time.perf_counter() - t0 < 60
    screenshot(driver, artifacts, "viewer-long.png")
    assert console_errors(driver) == []
