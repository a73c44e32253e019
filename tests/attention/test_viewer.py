"""The HTML viewer: its data in Python, then the page itself in a real headless Chromium (a
causal model's masked triangle too).

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them)
and skips cleanly without them; nothing is downloaded at test time.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from ctxvec.attention import Attention, attend, load_for_attention
from ctxvec.attention.viewer import viewer_data, viewer_fragment, viewer_html, write_viewer
from ctxvec.metrics.heads import SPECIAL

QUESTION = "Who discovered polonium?"
CONTEXT_TEXT = "Marie Curie and Pierre Curie discovered it in 1898."


@pytest.fixture(scope="module")
def attn(tiny_model) -> Attention:
    path = tiny_model("bert", "qa", num_heads=3, num_layers=3, hidden_size=36)
    lm = load_for_attention(str(path), "qa", device="cpu")
    return attend(lm, question=QUESTION, context=CONTEXT_TEXT)


@pytest.fixture(scope="module")
def decoder_attn(tiny_model) -> Attention:
    path = tiny_model("gpt2", "qa", num_heads=3, num_layers=3, hidden_size=36)
    lm = load_for_attention(str(path), "qa", device="cpu")
    return attend(lm, question=QUESTION, context=CONTEXT_TEXT)


def hostile_attention() -> Attention:
    """Tokens that would break out of a script element or inject markup if not escaped."""
    tokens = ["[CLS]", "</script><b>x</b>", "<img src=x onerror=alert(1)>", "[SEP]"]
    w = np.full((1, 1, 4, 4), 0.25, np.float32)
    segment = np.array([SPECIAL, 0, 1, SPECIAL], np.int8)
    return Attention("m</script>", "qa", w, tokens, segment, "", 0.0, None, 0.1)


def test_weights_survive_quantisation(attn) -> None:
    data = viewer_data(attn)
    raw = np.frombuffer(base64.b64decode(data["weights"]), "<u2") / 65535
    np.testing.assert_allclose(raw.reshape(attn.weights.shape), attn.weights, atol=1 / 65535)
    assert data["tokens"] == attn.tokens and data["boundary"] == attn.boundary
    table = attn.statistics()
    assert data["stats"]["entropy"][1][2] == pytest.approx(
        table.query("layer == 2 and head == 3")["entropy"].iloc[0]
    )


def test_causal_flag_and_statistics_travel(attn, decoder_attn) -> None:
    assert viewer_data(attn)["causal"] is False
    data = viewer_data(decoder_attn)
    assert data["causal"] is True
    table = decoder_attn.statistics()  # over the keys each query sees
    assert data["stats"]["entropy"][2][0] == pytest.approx(
        table.query("layer == 3 and head == 1")["entropy"].iloc[0]
    )
    assert "question_to_context" not in data["stat_names"]  # a question sees no context


def test_page_is_self_contained_and_escaped(attn) -> None:
    page = viewer_html(hostile_attention())
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    # The only closing script tags are the two the viewer writes itself.
    assert page.count("</script>") == 2
    payload = page.split('class="ctxvec-data">')[1].split("</script>")[0]
    assert json.loads(payload)["tokens"][1] == "</script><b>x</b>"
    first, second = viewer_fragment(attn), attn._repr_html_()
    ids = {re.search(r'id="(ctxvec-[0-9a-f]+)"', f).group(1) for f in (first, second)}
    assert len(ids) == 2  # two viewers in one notebook never share an element id


# ------------------------------------------------------------------ real browser


@pytest.mark.slow
def test_viewer_in_headless_chromium(attn, browser, tmp_path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    page = write_viewer(attn, tmp_path / "viewer.html")
    browser.get(page.resolve().as_uri())
    root = browser.find_element(By.CSS_SELECTOR, ".ctxvec-viewer")
    assert root.get_attribute("data-ready") == "true"
    assert root.get_attribute("data-layer") == "3"  # the last layer by default
    assert attn.describe() in root.find_element(By.CSS_SELECTOR, ".prediction").text

    # Pick layer 2, head 3: title and statistics follow.
    Select(root.find_element(By.CSS_SELECTOR, "select.layer")).select_by_visible_text("2")
    Select(root.find_element(By.CSS_SELECTOR, "select.head")).select_by_visible_text("3")
    assert root.find_element(By.CSS_SELECTOR, ".title").text == "layer 2, head 3"
    row = attn.statistics().query("layer == 2 and head == 3").iloc[0]
    shown = {
        tr.get_attribute("data-stat"): tr.find_element(By.CSS_SELECTOR, "td.value").text
        for tr in root.find_elements(By.CSS_SELECTOR, ".head-stats tr[data-stat]")
    }
    for name in ("entropy", "mean_distance", "special_share", "question_to_context"):
        assert shown[name] == f"{row[name]:.3f}"

    # Hover the cell (query 4, key boundary): the page names both tokens and the weight.
    canvas = root.find_element(By.CSS_SELECTOR, "canvas.head-canvas")
    margin = float(canvas.get_attribute("data-margin"))
    cell = float(canvas.get_attribute("data-cell"))
    width, height = canvas.size["width"], canvas.size["height"]
    q, k = 4, attn.boundary
    x, y = margin + (k + 0.5) * cell, margin + (q + 0.5) * cell
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x - width / 2), int(y - height / 2)
    ).perform()
    hover = root.find_element(By.CSS_SELECTOR, ".hover").text
    weight = attn.weights[1, 2, q, k]
    expected = (
        f'layer 2 head 3: query {q} "{attn.tokens[q]}" → key {k} "{attn.tokens[k]}": {weight:.4f}'
    )
    assert hover == expected

    # Grid view: every head of layer 2; a click opens that head alone.
    root.find_element(By.CSS_SELECTOR, "button.view-grid").click()
    assert root.find_element(By.CSS_SELECTOR, ".title").text == "layer 2, all 3 heads"
    figures = root.find_elements(By.CSS_SELECTOR, ".grid figure")
    assert [f.text for f in figures] == ["head 1", "head 2", "head 3"]
    assert "selected" in figures[2].get_attribute("class")
    figures[0].click()
    assert root.get_attribute("data-view") == "single"
    assert root.find_element(By.CSS_SELECTOR, ".title").text == "layer 2, head 1"

    # The layer x head table of a statistic selects a head on click.
    cells = root.find_elements(By.CSS_SELECTOR, "table.heads td")
    assert len(cells) == 9
    cells[2 * 3 + 1].click()
    assert (root.get_attribute("data-layer"), root.get_attribute("data-head")) == ("3", "2")

    shot = tmp_path / "viewer.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    resources = browser.execute_script("return performance.getEntriesByType('resource').length")
    assert resources == 0  # nothing fetched: no network, no other file
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_hostile_tokens_stay_text_in_the_browser(browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    page = write_viewer(hostile_attention(), tmp_path / "hostile.html")
    browser.get(page.resolve().as_uri())
    root = browser.find_element(By.CSS_SELECTOR, ".ctxvec-viewer")
    assert root.get_attribute("data-ready") == "true"
    assert root.find_element(By.CSS_SELECTOR, ".model").text == "m</script>"
    assert browser.find_elements(By.CSS_SELECTOR, "img, b") == []


def test_causal_triangle_in_the_browser(attn, decoder_attn, browser, tmp_path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    page = write_viewer(decoder_attn, tmp_path / "decoder.html")
    browser.get(page.resolve().as_uri())
    root = browser.find_element(By.CSS_SELECTOR, ".ctxvec-viewer")
    assert root.get_attribute("data-ready") == "true"
    assert "causal model" in root.find_element(By.CSS_SELECTOR, ".causal-note").text
    canvas = root.find_element(By.CSS_SELECTOR, "canvas.head-canvas")
    margin = float(canvas.get_attribute("data-margin"))
    cell = float(canvas.get_attribute("data-cell"))

    def pixel(q: int, k: int) -> list[int]:
        x, y = margin + (k + 0.5) * cell, margin + (q + 0.5) * cell
        script = "return Array.from(arguments[0].getContext('2d')"
        script += ".getImageData(arguments[1], arguments[2], 1, 1).data);"
        return browser.execute_script(script, canvas, int(x), int(y))

    # Above the diagonal: the masked grey; on and below it: the weights' colours.
    n = len(decoder_attn.tokens)
    assert pixel(1, 3) == pixel(0, n - 1) == [212, 212, 212, 255]
    assert all(pixel(q, k) != [212, 212, 212, 255] for q, k in [(0, 0), (3, 1), (n - 1, 0)])
    q, k = 1, 3
    width, height = canvas.size["width"], canvas.size["height"]
    x, y = margin + (k + 0.5) * cell, margin + (q + 0.5) * cell
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x - width / 2), int(y - height / 2)
    ).perform()
    hover = root.find_element(By.CSS_SELECTOR, ".hover").text
    assert hover.endswith(f'key {k} "{decoder_attn.tokens[k]}": masked (causal: not visible)')
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # An encoder's page has no masked cell and no note.
    browser.get(write_viewer(attn, tmp_path / "encoder.html").resolve().as_uri())
    root = browser.find_element(By.CSS_SELECTOR, ".ctxvec-viewer")
    assert root.find_elements(By.CSS_SELECTOR, ".causal-note") == []
