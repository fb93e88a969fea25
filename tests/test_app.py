"""The web app (difflab serve): every endpoint through Gradio's official client against a
server started here over a tiny random pipeline; generation's stream and stop; PNG info."""

import json
import socket
import threading

import numpy as np
import pytest

gr = pytest.importorskip("gradio", reason="the web app's tests need the extra difflab[app] (Gradio)")

from difflab.app import prepare_environment  # noqa: E402
from difflab.app.generation import (Limits, Request, Stopped, check_request, generate_stream, png_bytes,  # noqa: E402
                                    read_parameters)
from test_text_to_image import _tiny_pipeline  # noqa: E402

FAST = {"sampler": "ddim", "steps": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_unclip, tiny_superres):
    from gradio_client import Client

    from difflab.app.ui import Models, build_app
    from difflab.pipelines.superres import SuperResolutionPipeline
    from difflab.pipelines.unclip import UnCLIPPipeline

    temp = prepare_environment()
    pipe = _tiny_pipeline()
    models = Models({"tiny": lambda: pipe, "tiny-unclip": lambda: UnCLIPPipeline.load(tiny_unclip / "unclip")})
    demo = build_app(models, Limits(images=4, steps=20), out_dir=temp / "outputs",
                     upscaler=lambda: SuperResolutionPipeline.load(tiny_superres))
    (temp / "outputs").mkdir(parents=True, exist_ok=True)
    demo.queue(default_concurrency_limit=1)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                allowed_paths=[str(temp / "outputs")])
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    yield demo, client, pipe
    demo.close()


def _gen(client, prompt="a red circle", seed=3, n=2, steps=3, sampler="ddim", **kw):
    args = dict(prompt=prompt, negative=kw.get("negative", ""), pipeline="tiny", sampler=sampler, steps=steps,
                guidance=kw.get("guidance", 3.0), seed=seed, n=n, style=kw.get("style", ""), stylize=1.0,
                keep_colours=kw.get("keep_colours", False))
    return client.predict(*args.values(), api_name="/generate")


def test_generate_returns_pngs_that_carry_and_restore_their_parameters(server):
    demo, client, pipe = server
    assert demo.server_name == "127.0.0.1"
    previews, gallery, status = _gen(client)
    assert len(gallery) == 2 and "seeds 3 to 4" in status
    first = gallery[1]["image"]
    p = read_parameters(first)
    assert (p["prompt"], p["seed"], p["steps"], p["sampler"], p["n"]) == ("a red circle", 4, 3, "ddim", 1)
    # the library gives the same pixels for those parameters (seed of image 1 = 3 + 1)
    from PIL import Image

    expected = pipe(["a red circle"], seed=4, sampler="ddim", steps=3, guidance=3.0)[0]
    assert np.array_equal(np.asarray(Image.open(first).convert("RGB")), expected)
    # dropping the PNG restores the controls; generating from them gives the same image
    from gradio_client import handle_file

    restored = client.predict(handle_file(first), api_name="/restore")
    assert restored[0] == "a red circle" and restored[6] == 4 and restored[7] == 1
    _, again, _ = client.predict(*restored, api_name="/generate")
    assert np.array_equal(np.asarray(Image.open(again[0]["image"]).convert("RGB")), expected)
    assert len(previews) == 2  # the last preview: x0-hat after the last step, one per image


def test_bad_input_gets_its_message(server):
    _, client, _ = server
    from gradio_client.exceptions import AppError

    # the sliders' own bounds are checked by Gradio, the rest by difflab: a message either way
    for kw, message in [({"steps": 0}, "minimum|steps must be"), ({"n": 9}, "maximum|images must be"),
                        ({"prompt": "x" * 400}, "at most 300 characters"), ({"sampler": "warp"}, "unknown sampler|not in the list of choices")]:
        with pytest.raises(AppError, match=message):
            _gen(client, **kw)
    with pytest.raises(AppError, match="no difflab generation parameters"):
        from gradio_client import handle_file
        import tempfile
        from PIL import Image

        path = tempfile.mktemp(suffix=".png")
        Image.new("RGB", (8, 8)).save(path)
        client.predict(handle_file(path), api_name="/restore")


def test_learn_and_edit_endpoints(server, tmp_path):
    _, client, _ = server
    from gradio_client import handle_file
    from PIL import Image

    closed, chain, note = client.predict(None, 250, 0, api_name="/forward")
    assert np.asarray(Image.open(closed)).shape == (64, 64, 3) and "alpha_bar" in note
    picture, note = client.predict("a red circle", 0, 3, api_name="/reverse")
    assert np.asarray(Image.open(picture)).shape[1] == 3 * 32 and "sigma" in note
    gallery = client.predict("a red circle", 0, 2, ["ddim", "euler"], api_name="/compare")
    assert [g["caption"] for g in gallery] == ["ddim, 2 steps", "euler, 2 steps"]
    image = tmp_path / "in.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(image)
    out, note = client.predict(handle_file(str(image)), "a red circle", 0.5, 0, 5, api_name="/img2img")
    assert np.asarray(Image.open(out)).shape == (32, 32, 3)
    layer = np.zeros((32, 32, 4), np.uint8)
    layer[8:16, 8:16] = 255
    Image.fromarray(layer).save(tmp_path / "layer.png")
    editor = {"background": handle_file(str(image)), "layers": [handle_file(str(tmp_path / "layer.png"))],
              "composite": handle_file(str(image))}
    out, note = client.predict(editor, "a red circle", 0, 5, None, api_name="/inpaint")
    result = np.asarray(Image.open(out).convert("RGB"))
    assert "inpainted 64 pixels" in note and (result[20:, 20:] == 128).all()  # kept pixels stay exact
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :4] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out, note = client.predict(editor, "a red circle", 0, 5, handle_file(str(tmp_path / "mask.png")), api_name="/inpaint")
    assert "inpainted 128 pixels" in note  # an uploaded mask replaces the painted one
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="paint over"):
        client.predict({"background": handle_file(str(image)), "layers": [], "composite": None},
                       "a red circle", 0, 5, None, api_name="/inpaint")


def test_upscale_variations_playground_and_a_cancelled_job(server, tmp_path):
    _, client, _ = server
    from gradio_client import handle_file
    from PIL import Image

    image = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(image)
    before, after = client.predict(handle_file(str(image)), api_name="/upscale")
    assert np.asarray(Image.open(before)).shape == np.asarray(Image.open(after)).shape == (64, 64, 3)
    gallery, note = client.predict(handle_file(str(image)), 0, 2, api_name="/variations")
    assert len(gallery) == 2 and "resized" in note  # a 16 x 16 upload is fitted to the 32 x 32 model, and said so
    figure = client.predict("moons", 2, ["ddpm"], api_name="/playground")
    assert figure  # the loss curve, then the samples over the data with the score field
    # a generation cancelled (Stop) frees the queue for the next one
    job = client.submit("a red circle", "", "tiny", "ddim", 20, 3.0, 0, 4, "", 1.0, api_name="/generate")
    job.cancel()
    _, gallery, _ = _gen(client, n=1)
    assert len(gallery) == 1
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="apply to text-to-image pipelines"):  # a style asked of unCLIP
        client.predict("a red circle", "", "tiny-unclip", "ddim", 3, 3.0, 0, 1, "outline", 1.0, False,
                       api_name="/generate")
    _, gallery, _ = client.predict("a red circle", "", "tiny-unclip", "ddim", 3, 3.0, 0, 1, "", 1.0, False,
                                   api_name="/generate")
    assert len(gallery) == 1


def test_no_client_path_is_opened_and_uploads_stay_in_the_temporary_folder(server, tmp_path):
    """A request naming a file on the server that no client uploaded is refused (raw HTTP: the
    official client would upload a local file itself)."""
    import os
    import tempfile

    import httpx

    demo, _, _ = server
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(np.zeros((4, 4, 3), np.uint8), {"prompt": "SECRET"}))
    url = demo.local_url.rstrip("/")
    forged = {"data": [{"path": str(secret), "meta": {"_type": "gradio.FileData"}}]}
    event = httpx.post(f"{url}/gradio_api/call/restore", json=forged, timeout=30).json()["event_id"]
    answer = httpx.get(f"{url}/gradio_api/call/restore/{event}", timeout=30).text
    assert "event: error" in answer and "SECRET" not in answer
    uploads = os.environ["GRADIO_TEMP_DIR"]
    assert uploads.startswith(tempfile.gettempdir()) and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_stream_yields_previews_then_final_and_stops():
    pipe = _tiny_pipeline()
    req = Request(prompt="a red circle", pipeline="tiny", n=2, **FAST)
    kinds = [(kind, images.shape) for kind, images in generate_stream(pipe, req)]
    assert kinds == [("preview", (2, 32, 32, 3))] * 3 + [("final", (2, 32, 32, 3))]
    stop = threading.Event()
    stream = generate_stream(pipe, Request(prompt="a red circle", pipeline="tiny", n=1, sampler="ddim", steps=20), stop)
    next(stream)
    stop.set()
    with pytest.raises(Stopped):
        list(stream)
    # a consumer that goes away stops the sampler too
    stream = generate_stream(pipe, Request(prompt="a red circle", pipeline="tiny", n=1, sampler="ddim", steps=20))
    next(stream)
    stream.close()


def test_the_stream_keeps_the_prompts_colours_under_a_style():
    """keep_colours: the final images are the pipeline's keep_prompt_colours of the styled ones (the
    unstyled run lends its hue, without previews); without a style word it is refused."""
    from difflab.colour import keep_hue

    pipe = _tiny_pipeline()
    req = Request(prompt="a red circle", pipeline="tiny", n=2, style="outline", keep_colours=True, **FAST)
    kinds = [(kind, images) for kind, images in generate_stream(pipe, req)]
    assert [k for k, _ in kinds] == ["preview"] * 3 + ["final"]
    settings = {**FAST, "guidance": req.guidance}
    styled = pipe(["a red circle"] * 2, seed=0, output="tensor", style="outline", **settings)
    content = pipe(["a red circle"] * 2, seed=0, output="tensor", style="outline", style_sigma=0.0, **settings)
    from difflab.data.shapes import to_uint8

    assert np.array_equal(kinds[-1][1], to_uint8(keep_hue(styled, content)))
    with pytest.raises(ValueError, match="give a style word"):
        check_request(Request(prompt="a", pipeline="tiny", keep_colours=True), ["tiny"])
    with pytest.raises(ValueError, match="true or false"):
        check_request(Request(prompt="a", pipeline="tiny", style="outline", keep_colours="yes"), ["tiny"])


def test_requests_and_png_info():
    check_request(Request(prompt="a red circle", pipeline="tiny"), ["tiny"])
    with pytest.raises(ValueError, match="unknown pipeline"):
        check_request(Request(prompt="a", pipeline="other"), ["tiny"])
    with pytest.raises(ValueError, match="seed"):
        check_request(Request(prompt="a", pipeline="tiny", seed=-1), ["tiny"])
    for field, value in (("seed", float("inf")), ("steps", float("nan")), ("guidance", float("inf")),
                         ("style_weight", float("inf")), ("n", "4")):
        with pytest.raises(ValueError, match="must be a finite number"):
            check_request(Request(prompt="a", pipeline="tiny", **{field: value}), ["tiny"])
    image = np.zeros((4, 4, 3), np.uint8)
    data = png_bytes(image, {"prompt": "p", "seed": 7})
    assert read_parameters(data) == {"prompt": "p", "seed": 7}
    with pytest.raises(ValueError, match="not a readable image"):
        read_parameters(b"not a png")
    assert json.loads(json.dumps(Request(prompt="p", pipeline="t").parameters(2)))["seed"] == 2


def test_a_style_reference_image_through_the_page(server, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    import difflab.data.shapes as S

    _, client, _ = server
    ref = tmp_path / "ref.png"
    Image.fromarray(S.render(S.make_scene(0, 2), 32)).save(ref)
    _, plain, _ = _gen(client, n=1)
    args = ["a red circle", "", "tiny", "ddim", 3, 3.0, 3, 1, "", 1.0, False]
    _, borrowed, _ = client.predict(*args, handle_file(str(ref)), 2.0, api_name="/generate")
    assert not np.array_equal(np.asarray(Image.open(plain[0]["image"])), np.asarray(Image.open(borrowed[0]["image"])))
    p = read_parameters(borrowed[0]["image"])
    assert p["style_weight"] == 2.0 and "not stored" in p["style_ref"]
    # the prompt's colours kept under a reference alone (no style word)
    args[-1] = True
    _, kept, _ = client.predict(*args, handle_file(str(ref)), 2.0, api_name="/generate")
    assert read_parameters(kept[0]["image"])["keep_colours"] is True
    assert "style_ref" not in read_parameters(plain[0]["image"])


def test_a_learned_style_applies_by_name_for_one_request_only(server, tmp_path, monkeypatch):
    from PIL import Image

    from difflab.nets.lora import LoRALayer
    from difflab.pipelines.learned_styles import train_style

    _, client, pipe = server
    monkeypatch.chdir(tmp_path)
    examples = []
    for i in range(3):
        path = tmp_path / f"ex{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        examples.append(path)
    train_style(pipe, examples, name="inky", out=tmp_path / "run", style_file=tmp_path / "styles" / "inky.safetensors",
                steps=4, batch_size=2, lr=5e-2, progress=False)
    # enough steps to reach the noise levels where a learned style acts (LEARNED_STYLE_SIGMA)
    _, styled, _ = _gen(client, n=1, style="inky", steps=12)
    _, plain, _ = _gen(client, n=1, style="", steps=12)
    assert not np.array_equal(np.asarray(Image.open(styled[0]["image"])), np.asarray(Image.open(plain[0]["image"])))
    assert not any(isinstance(m, LoRALayer) for m in pipe.denoiser.net.modules())  # removed after the request
    # a style word that names no learned file is a plain word; a path is never opened
    _, words, _ = _gen(client, n=1, style="../styles/inky.safetensors")
    assert len(words) == 1


def test_serve_binds_this_machine_by_default_and_refuses_bad_options(capsys):
    import os

    from difflab.app import serve
    from difflab.cli import main

    demo = serve(port=_free_port(), block=False)
    try:
        assert demo.server_name == "127.0.0.1" and os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    finally:
        demo.close()
    assert main(["serve", "--model", "no-such-folder"]) == 2
    assert "no-such-folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # argparse refuses it while parsing
        main(["serve", "--port", "70000"])
    assert stop.value.code == 2 and "port from 1 to 65535" in capsys.readouterr().err


def test_every_event_that_runs_a_model_shares_one_queue():
    """Gradio queues each event on its own unless events share a concurrency group: every
    event that runs a model is in one (``--concurrency N`` is N jobs in all)."""
    from difflab.app.ui import WORK, Models, build_app

    demo = build_app(Models({"x": lambda: None}))
    fns = {f.api_name: f for f in (demo.fns.values() if isinstance(demo.fns, dict) else demo.fns)}
    for name in ("generate", "inpaint", "img2img", "upscale", "variations", "forward", "reverse", "compare",
                 "playground"):
        assert fns[name].concurrency_id == WORK, name
    assert fns["restore"].concurrency_id != WORK  # reading a PNG's parameters runs no model


def test_an_edit_waits_for_a_generation_on_the_same_pipeline():
    """A generation holds its pipeline (a learned style changes the network until it ends), and
    an edit or a Learn-tab run on that pipeline waits for it; another pipeline does not."""
    from difflab.app.ui import Models

    a, b = object(), object()
    models = Models({"a": lambda: a, "b": lambda: b})
    assert models.get("a") is a and models.get("b") is b
    entered = threading.Event()

    def edit():
        with models.holding(a):
            entered.set()

    with models.in_use["a"]:
        worker = threading.Thread(target=edit)
        worker.start()
        assert not entered.wait(0.2)  # waits while "a" generates
        with models.holding(b):  # another pipeline is free
            pass
    worker.join(5)
    assert entered.is_set()
