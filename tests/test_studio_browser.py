"""The palette studio in a real headless Chromium, driven as a person would: open an image,
paint a stroke of one task, wait for the prediction to be redrawn, download the palette and
check it; a file that is not a picture, or a palette of unknown colours, gets a message.

Needs Chromium and Playwright for Python (`playwright install` cannot download browsers
here; Debian's build is used instead):
    apt-get install -y chromium        (as root)
    pip install -e '.[test]'           (playwright, starlette, uvicorn, python-multipart)
Set CT_STUDIO_SCREENSHOT=docs/studio.png to keep the page's screenshot.
"""

import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("uvicorn", reason="the studio needs the [studio] extra: pip install -e '.[studio]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright for Python is missing: pip install -e '.[test]'")
CHROMIUM = next((p for p in (os.environ.get("CT_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and os.path.isfile(p)), None)
if CHROMIUM is None:
    pytest.skip("No Chromium found: install it with `apt-get install -y chromium` (Debian, as root) "
                "or point CT_CHROMIUM at a Chromium binary", allow_module_level=True)

from ct_keras.inference import load_predictor  # noqa: E402
from ct_keras.palettes import palette_from_spec  # noqa: E402
from ct_keras.studio import Studio  # noqa: E402
from ct_keras.tasks import TASK_IDS  # noqa: E402
from tests.studio_helpers import photo, read_palette_png, serving, tiny_run_folder  # noqa: E402

pytestmark = pytest.mark.slow
WIDTH, HEIGHT = 128, 96  # the picture; the page shows it 4x (512 px wide)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    run = tiny_run_folder(tmp_path_factory.mktemp("studio") / "run")
    with serving(Studio(load_predictor(run))) as address:
        yield address


@pytest.fixture(scope="module")
def page(url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 980}, accept_downloads=True)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        yield page
        browser.close()


def _version(page):
    return int(page.get_attribute("#prediction", "data-version"))


def _wait_for_new_prediction(page, after):
    page.wait_for_function(f"Number(document.querySelector('#prediction').dataset.version) > {after}",
                           timeout=60000)


def _stroke(page, points):
    """Drags the mouse through `points` (picture pixels) on the canvas."""
    box = page.locator("#overlay").bounding_box()
    scale = box["width"] / WIDTH
    at = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def test_paint_a_stroke_and_download_the_palette(page, tmp_path):
    path = tmp_path / "street.png"
    Image.fromarray(photo(HEIGHT, WIDTH, seed=2)).save(path)
    page.set_input_files("#image-file", str(path))
    _wait_for_new_prediction(page, 0)  # the starting palette's prediction
    assert page.input_value("#rule") == "s:semseg"
    before = _version(page)
    first = page.get_attribute("#prediction", "src")

    page.click("#tasks button[data-task=parts]")
    page.eval_on_selector("#brush-size", "e => { e.value = 10; e.dispatchEvent(new Event('input')); }")
    _stroke(page, [(10, 48), (60, 48), (118, 48)])
    _wait_for_new_prediction(page, before)
    assert page.get_attribute("#prediction", "src") != first
    assert page.locator("#views figure[data-task=parts]").count() == 1
    assert "parts" in page.inner_text("#legend")

    with page.expect_download() as download:
        page.click("[data-download='palette.png']")
    assert download.value.suggested_filename == "street_palette.png"
    palette = read_palette_png(open(download.value.path(), "rb").read())
    assert palette.shape == (HEIGHT, WIDTH)
    # The stroke: 10 px wide along y = 48 from x = 10 to 118 (round caps); the rest is s:semseg.
    assert (palette[45:52, 12:117] == TASK_IDS["parts"]).all()
    assert (palette[:40] == TASK_IDS["semseg"]).all() and (palette[57:] == TASK_IDS["semseg"]).all()
    assert set(np.unique(palette)) == {TASK_IDS["semseg"], TASK_IDS["parts"]}

    # Undo brings the starting palette back (and a new prediction).
    before = _version(page)
    page.click("#undo")
    _wait_for_new_prediction(page, before)
    with page.expect_download() as download:
        page.click("[data-download='palette.png']")
    assert (read_palette_png(open(download.value.path(), "rb").read()) == TASK_IDS["semseg"]).all()
    page.click("#redo")
    _wait_for_new_prediction(page, before + 1)
    assert not page.is_visible("#message")


def _click(page, x, y):
    box = page.locator("#overlay").bounding_box()
    scale = box["width"] / WIDTH
    page.mouse.click(box["x"] + x * scale, box["y"] + y * scale)


def test_polygon_fill_and_the_edit_file(page, tmp_path):
    path = tmp_path / "room.png"
    Image.fromarray(photo(HEIGHT, WIDTH, seed=3)).save(path)
    before = _version(page)
    page.set_input_files("#image-file", str(path))
    _wait_for_new_prediction(page, before)
    page.select_option("#rule", "s:semseg")
    page.click("#apply-rule")
    page.wait_for_function("document.querySelector('#status').textContent.endsWith('s:semseg')")

    page.click("#tasks button[data-task=edges]")
    page.click("#tools button[data-tool=polygon]")
    for x, y in [(20, 20), (70, 20), (70, 60)]:
        _click(page, x, y)
    page.keyboard.press("Enter")  # closes the polygon
    page.click("#tasks button[data-task=normals]")
    page.click("#tools button[data-tool=fill]")
    before = _version(page)
    _click(page, 100, 80)  # outside the triangle: the whole rest of the palette
    _wait_for_new_prediction(page, before)

    with page.expect_download() as download:
        page.click("[data-download='edits.json']")
    assert download.value.suggested_filename == "room_edits.json"
    edit_file = json.loads(open(download.value.path()).read())
    assert edit_file["base"] == "s:semseg"
    shapes = [(s["shape"], s["task"]) for s in edit_file["shapes"]]
    assert shapes == [("polygon", "edges"), ("fill", "normals")]
    with page.expect_download() as download:
        page.click("[data-download='palette.png']")
    palette = read_palette_png(open(download.value.path(), "rb").read())
    assert set(np.unique(palette)) == {TASK_IDS["edges"], TASK_IDS["normals"]}
    assert palette[25, 60] == TASK_IDS["edges"] and palette[50, 30] == TASK_IDS["normals"]
    # tools/predict.py --palette=<the edit file> paints the same palette.
    edit_path = tmp_path / "room_edits.json"
    edit_path.write_text(json.dumps(edit_file))
    np.testing.assert_array_equal(palette_from_spec(str(edit_path), (HEIGHT, WIDTH)), palette)


def test_a_file_that_is_not_a_picture_gets_a_message(page):
    page.set_input_files("#image-file", files=[{"name": "notes.txt", "mimeType": "image/png",
                                                 "buffer": b"these are notes, not pixels"}])
    message = page.locator("#message")
    message.wait_for(state="visible", timeout=30000)
    assert "notes.txt is not an image" in message.inner_text()
    assert page.locator("#stage").get_attribute("class") != "empty"  # the picture before stays

    colours = np.zeros((HEIGHT, WIDTH, 3), np.uint8)  # black is no task's legend colour
    buffer = io.BytesIO()
    Image.fromarray(colours).save(buffer, format="PNG")
    page.set_input_files("#palette-file", files=[{"name": "mine.png", "mimeType": "image/png",
                                                   "buffer": buffer.getvalue()}])
    page.wait_for_function("document.querySelector('#message').textContent.includes('mine.png')")
    assert "colours that are not task legend colours" in message.inner_text()


def test_a_new_picture_never_shows_the_last_ones_prediction(page, tmp_path):
    before = _version(page)
    page.click("#sample")  # a synthetic scene: it has the semseg label r2 follows
    _wait_for_new_prediction(page, before)
    before = _version(page)
    page.select_option("#rule", "r2")
    page.click("#apply-rule")
    page.wait_for_function("document.querySelector('#status').textContent.endsWith('r2')")
    _wait_for_new_prediction(page, before)
    sample = {"src": page.get_attribute("#prediction", "src"), "shows": page.get_attribute("#prediction", "data-shows")}
    assert page.inner_text("#prediction-caption").startswith("Prediction of sample-")
    # Every picture the panel shows from now on is recorded.
    page.evaluate("""() => { window.shown = [];
        new MutationObserver(() => { const p = document.querySelector('#prediction');
            window.shown.push([p.getAttribute('src'), p.dataset.shows, p.hidden]); })
        .observe(document.querySelector('#prediction'), {attributes: true}); }""")

    path = tmp_path / "chelsea.png"  # a photo: no label, so r2 cannot apply
    Image.fromarray(photo(HEIGHT, WIDTH, seed=5)).save(path)
    before = _version(page)
    page.set_input_files("#image-file", str(path))
    _wait_for_new_prediction(page, before)
    assert page.input_value("#rule") == "s:semseg"
    assert "Started chelsea.png from s:semseg instead" in page.inner_text("#message")
    assert page.inner_text("#prediction-caption") == "Prediction of chelsea.png, palette s:semseg"
    shown = page.evaluate("window.shown")
    assert shown and all(src != sample["src"] for src, _, hidden in shown if not hidden)
    assert all(shows != sample["shows"] for src, shows, hidden in shown if src and not hidden)
    assert page.get_attribute("#prediction", "data-shows") not in (None, "", sample["shows"])


def test_screenshot(page, tmp_path):
    before = _version(page)
    page.click("#sample")
    _wait_for_new_prediction(page, before)  # the sample with the rule shown (s:semseg)
    assert page.inner_text("#image-info").startswith("sample-")
    before = _version(page)
    page.select_option("#rule", "quadrants")
    page.click("#apply-rule")
    page.wait_for_function("document.querySelector('#status').textContent.endsWith('quadrants')")
    _wait_for_new_prediction(page, before)
    page.click("#tasks button[data-task=edges]")
    page.click("#tools button[data-tool=rectangle]")
    box = page.locator("#overlay").bounding_box()
    before = _version(page)
    page.mouse.move(box["x"] + 150, box["y"] + 330)
    page.mouse.down()
    page.mouse.move(box["x"] + 380, box["y"] + 470, steps=5)
    page.mouse.up()
    _wait_for_new_prediction(page, before)
    assert page.locator("#views figure[data-task=edges]").count() == 1
    page.evaluate("document.querySelector('#message').hidden = true")
    out = os.environ.get("CT_STUDIO_SCREENSHOT") or str(tmp_path / "studio.png")
    page.screenshot(path=out, full_page=True)
    assert Image.open(out).size[0] >= 1000
