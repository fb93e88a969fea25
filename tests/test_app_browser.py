"""The web app end to end in a real headless Chromium (the distribution's package, driven by
Playwright's Python client with ``executable_path``; no browser download): type a prompt,
Generate, see the streamed previews and the images; paint a mask and inpaint; move the
forward-process slider."""

import os
import shutil
import socket

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the web app's tests need the extra difflab[app] (Gradio)")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (pip install playwright)")

CHROMIUM = os.environ.get("DIFFLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def url():
    from difflab.app import prepare_environment
    from difflab.app.generation import Limits
    from difflab.app.ui import Models, build_app
    from test_text_to_image import _tiny_pipeline

    temp = prepare_environment()
    pipe = _tiny_pipeline()
    demo = build_app(Models({"tiny": lambda: pipe}), Limits(images=4, steps=20), out_dir=temp / "outputs")
    (temp / "outputs").mkdir(parents=True, exist_ok=True)
    demo.queue(default_concurrency_limit=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                allowed_paths=[str(temp / "outputs")])
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def page(url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#prompt textarea", timeout=30_000)
        yield page
        browser.close()


def test_generate_shows_previews_and_images(page):
    page.fill("#prompt textarea", "a green triangle at the top")
    page.locator("#seed input").fill("5")
    page.locator("#seed input").press("Enter")
    page.click("#generate")
    page.wait_for_selector("#gallery img", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#gallery img').length >= 4", timeout=60_000)
    assert page.locator("#previews img").count() >= 1  # x0-hat streamed while sampling
    assert "seeds 5 to 8" in page.locator("#status").inner_text()


def test_dropping_a_generated_png_restores_its_settings(page, tmp_path):
    from difflab.app.generation import png_bytes

    png = tmp_path / "made.png"
    png.write_bytes(png_bytes(np.zeros((32, 32, 3), np.uint8),
                              {"prompt": "a purple square at the bottom", "seed": 41, "steps": 7, "n": 1}))
    page.locator("#pnginfo input[type=file]").set_input_files(str(png))
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'a purple square at the bottom'",
                           timeout=30_000)
    assert page.locator("#seed input").input_value() == "41"


def test_paint_a_mask_and_inpaint(page, tmp_path):
    from PIL import Image

    image = tmp_path / "scene.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    page.get_by_role("tab", name="Edit").click()
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint_editor input[type=file]").set_input_files(str(image))
    canvas = page.locator("#inpaint_editor canvas").first
    canvas.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    # the brush: choose it if the editor does not start with it, then paint a stroke
    brush = page.locator("#inpaint_editor button[aria-label*='rush'], #inpaint_editor button[title*='rush']")
    if brush.count():
        brush.first.click()
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 20, cy)
    page.mouse.down()
    for k in range(10):
        page.mouse.move(cx - 20 + 4 * k, cy + (k % 2))
    page.mouse.up()
    page.click("#inpaint")
    page.wait_for_selector("#inpainted img", timeout=60_000)
    assert page.locator("#inpainted img").count() == 1


def test_forward_slider_moves_the_process(page):
    page.get_by_role("tab", name="Learn").click()
    page.get_by_role("tab", name="Forward process").click()
    slider = page.locator("#forward_step input[type=range]")
    slider.wait_for(timeout=30_000)
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2)
    page.wait_for_selector("#forward_closed img", timeout=60_000)
    page.wait_for_selector("#forward_chain img", timeout=60_000)
    assert "alpha_bar" in page.locator("#forward_note").inner_text()
