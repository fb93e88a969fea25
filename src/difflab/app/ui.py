"""The web app's page (Gradio Blocks): Generate, Edit, Learn. Every handler calls the
library (:mod:`difflab.app.generation`, :mod:`difflab.app.learn`, the pipelines) and turns
a ValueError into the page's own message (``gr.Error``), never a stack trace."""

from __future__ import annotations

import contextlib
import functools
import random
import tempfile
import threading
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path
from .generation import SAMPLERS, Limits, Request, check_request, generate_stream, png_bytes, read_parameters
from .learn import FORWARD_T, QUESTIONS

__all__ = ["build_app", "Models"]

TOY_SETS = ("moons", "8gaussians", "swiss-roll", "checkerboard")
UPLOAD_PIXELS = 16 * 10**6  # an uploaded image's pixels at most
#: the concurrency group of every event that runs a model: Gradio queues each event on its own
#: unless events share a group, and ``difflab serve --concurrency N`` means N jobs in all
WORK = "difflab-work"


class Models:
    """The pipelines the page offers, loaded on first use: name -> loader."""

    def __init__(self, loaders: dict):
        if not loaders:
            raise ValueError("the app needs at least one pipeline")
        self.loaders, self._loaded, self._lock = dict(loaders), {}, threading.Lock()
        self.in_use = {name: threading.Lock() for name in loaders}  # one generation per pipeline at a time

    @property
    def names(self) -> list[str]:
        return list(self.loaders)

    def get(self, name: str):
        if name not in self.loaders:
            raise ValueError(f"unknown pipeline {name!r}; choose one of: {', '.join(self.loaders)}")
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self.loaders[name]()
            return self._loaded[name]

    @contextlib.contextmanager
    def holding(self, pipe):
        """Hold ``pipe``'s lock while it works. A generation with a learned style or a style
        reference changes the pipeline's network until it ends, so with ``--concurrency`` > 1
        an edit or a Learn-tab run on the same pipeline must wait for it."""
        name = next(k for k, v in self._loaded.items() if v is pipe)
        with self.in_use[name]:
            yield pipe

    def text_to_image(self):
        """The first text-to-image pipeline offered (for editing and the Learn tab)."""
        from ..pipelines.text_to_image import TextToImagePipeline

        for name in self.loaders:
            pipe = self.get(name)
            if isinstance(pipe, TextToImagePipeline):
                return pipe
        raise ValueError("no text-to-image pipeline is loaded in this app")


#: what a handler raises for a refused request or bad input; anything else is a bug and is logged
REFUSED = (ValueError, TypeError, FileNotFoundError)


def _messages(fn):
    """Run a handler (a function or a generator function); a refusal (:data:`REFUSED`) becomes
    the page's one-line message."""
    import inspect

    import gradio as gr

    def refusal(e: Exception):
        return gr.Error(str(e).splitlines()[0] if str(e) else type(e).__name__)

    if inspect.isgeneratorfunction(fn):
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except REFUSED as e:
                raise refusal(e) from None

        return functools.wraps(fn)(stream)

    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except REFUSED as e:
            raise refusal(e) from None

    return functools.wraps(fn)(call)


def _fit(image: np.ndarray | None, size: int, what: str) -> tuple[np.ndarray, str]:
    """An uploaded image as uint8 RGB at the pipeline's size: centre-cropped to a square and
    resized if it is not (said in the returned note, never silently)."""
    from PIL import Image

    if image is None:
        raise ValueError(f"upload {what} first")
    image = np.asarray(image)
    if image.shape[0] * image.shape[1] > UPLOAD_PIXELS:
        raise ValueError(f"{what} has {image.shape[1]}x{image.shape[0]} pixels; the app takes at most "
                         f"{UPLOAD_PIXELS // 10**6} megapixels")
    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    image = image[..., :3].astype(np.uint8)
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image, ""
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(image[top:top + side, left:left + side]).resize((size, size), Image.LANCZOS)
    return np.asarray(square), f"{what} was {w}x{h}: centre-cropped and resized to {size}x{size}. "


def learned_style(style: str) -> Path | None:
    """The learned-style file a style word names: ``styles/NAME.safetensors`` in the server's
    working directory, for a plain name only (a client never names a path)."""
    from ..pipelines.learned_styles import STYLES_DIR, check_style_name

    try:
        check_style_name(style)
    except ValueError:
        return None
    path = STYLES_DIR / f"{style}.safetensors"
    return path if path.is_file() else None


def _check_steps(steps, limits: Limits) -> None:
    if int(steps) != steps or not 1 <= steps <= limits.steps:
        raise ValueError(f"steps must be a whole number from 1 to {limits.steps}, got {steps}")


def build_app(models: Models, limits: Limits = Limits(), out_dir: Path | None = None, upscaler=None):
    """The Blocks page over ``models``. Generated PNGs (with their parameters) go to
    ``out_dir`` (default: a fresh temporary folder); ``upscaler``: a loader of the
    super-resolution pipeline of the Upscale tab (default: the shipped x4 model)."""
    import gradio as gr

    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="difflab-app-"))
    counter = iter(range(10**12))

    def save_pngs(images, req: Request) -> list[str]:
        paths = []
        for i, image in enumerate(images):
            path = out_dir / f"difflab-{next(counter):06d}-seed{req.seed + i}.png"
            with atomic_path(path) as tmp:  # a page never links a half-written file
                Path(tmp).write_bytes(png_bytes(image, req.parameters(i)))
            paths.append(str(path))
        return paths

    # -- Generate ------------------------------------------------------------------
    @_messages
    def generate(prompt, negative, pipeline, sampler, steps, guidance, seed, n, style, stylize, keep_colours=False,
                 style_image=None, style_weight=1.0):
        req = Request(prompt=prompt or "", pipeline=pipeline, negative_prompt=negative or "", sampler=sampler,
                      steps=int(steps), guidance=float(guidance), seed=int(seed), n=int(n), style=(style or "").strip(),
                      stylize=float(stylize), style_weight=float(style_weight), keep_colours=bool(keep_colours),
                      style_ref=style_image)  # checked as given (is there one?), fitted to the pipeline below
        check_request(req, models.names, limits)
        pipe = models.get(pipeline)
        if style_image is not None:
            req.style_ref, _ = _fit(style_image, pipe.config["image_size"], "the style reference")
        learned = learned_style(req.style)
        with models.holding(pipe):  # a learned style changes the pipeline for this request only
            if learned is not None:
                from ..pipelines.learned_styles import apply_style

                req.style = apply_style(pipe, learned)
            try:
                yield from stream_to_page(pipe, req)
            finally:
                if learned is not None:
                    from ..nets.lora import remove_lora

                    remove_lora(pipe.denoiser.net)

    def stream_to_page(pipe, req):
        previews, step = [], 0
        for kind, images in generate_stream(pipe, req):
            if kind == "preview":
                previews, step = list(images), step + 1
                yield previews, gr.update(), f"sampling: step {step} of {req.steps}"
            else:
                paths = save_pngs(images, req)
                yield previews, paths, (f"{len(paths)} images, seeds {req.seed} to {req.seed + len(paths) - 1}; "
                                        f"each PNG carries its parameters: drop one below to restore them")

    @_messages
    def restore(file):
        keys = ("prompt", "negative_prompt", "pipeline", "sampler", "steps", "guidance", "seed", "n", "style", "stylize",
                "keep_colours")
        if file is None:
            return [gr.update()] * len(keys)
        p = read_parameters(file if isinstance(file, str) else file.name)
        values = [p.get(k, gr.update()) for k in keys]
        if values[2] not in models.names:
            values[2] = gr.update()
        return values

    # -- Edit ----------------------------------------------------------------------
    @_messages
    def inpaint(editor, prompt, seed, steps, mask_upload=None):
        pipe = models.text_to_image()
        size = pipe.config["image_size"]
        if editor is None or editor.get("background") is None:
            raise ValueError("upload an image and paint over what to regenerate")
        image, note = _fit(editor["background"], size, "the image")
        shape = np.asarray(editor["background"]).shape[:2]
        if mask_upload is not None:  # an uploaded mask (white = regenerate) instead of the painted one
            upload = np.asarray(mask_upload)
            if upload.shape[:2] != shape:
                raise ValueError(f"the mask is {upload.shape[1]}x{upload.shape[0]}, the image {shape[1]}x{shape[0]}")
            painted = (upload[..., :3].max(-1) if upload.ndim == 3 else upload) > 127
        else:
            painted = np.zeros(shape, bool)
            for layer in (np.asarray(layer) for layer in editor.get("layers") or []):
                painted |= (layer[..., 3] > 0) if layer.ndim == 3 and layer.shape[2] == 4 else (layer.max(-1) > 0)
        if not painted.any():
            raise ValueError("paint over the part to regenerate (the brush) or upload a mask, then press Inpaint")
        mask, _ = _fit(np.where(painted, 255, 0).astype(np.uint8), size, "the mask")
        _check_steps(steps, limits)
        with models.holding(pipe):
            result = pipe.inpaint(image, np.where(mask[..., 0] > 127, 255, 0).astype(np.uint8), prompt or "",
                                  seed=int(seed), steps=int(steps))
        return result.images[0], note + f"inpainted {int((mask[..., 0] > 127).sum())} pixels; the rest is kept exactly"

    @_messages
    def img2img(image, prompt, strength, seed, steps):
        pipe = models.text_to_image()
        image, note = _fit(image, pipe.config["image_size"], "the image")
        _check_steps(steps, limits)
        with models.holding(pipe):
            result = pipe.img2img(image, prompt or "", float(strength), seed=int(seed), steps=int(steps))
        return result.images[0], note + str(result.info)

    @functools.lru_cache(maxsize=1)
    def load_upscaler():
        from ..pipelines.superres import SuperResolutionPipeline

        return upscaler() if upscaler is not None else SuperResolutionPipeline.load(None)

    @_messages
    def upscale(image):
        if image is None:
            raise ValueError("upload an image first")
        image = np.asarray(image)[..., :3].astype(np.uint8)
        if max(image.shape[:2]) > 128:
            raise ValueError(f"upscaling takes images up to 128 pixels a side, got {image.shape[1]}x{image.shape[0]}")
        big = load_upscaler()(image, seed=0)
        from PIL import Image

        before = np.asarray(Image.fromarray(image).resize((big.shape[1], big.shape[0]), Image.NEAREST))
        return (before, big)

    @_messages
    def variations(image, seed, n):
        from ..pipelines.unclip import UnCLIPPipeline

        pipe = next((models.get(k) for k in models.names if isinstance(models.get(k), UnCLIPPipeline)), None)
        if pipe is None:
            raise ValueError("variations need an unCLIP pipeline, and none is offered in this app")
        image, note = _fit(image, pipe.config["image_size"], "the image")
        if not 1 <= int(n) <= limits.images:
            raise ValueError(f"images must be from 1 to {limits.images}")
        with models.holding(pipe):
            images = list(pipe.variations(image, int(n), seed=int(seed)))
        k = pipe.config["defaults"]["variation_candidates"]
        return images, note or ("decoded from the image's CLIP embedding" +
                                (f", each the nearest to it of {k} candidates" if k > 1 else ""))

    # -- Learn ---------------------------------------------------------------------
    def default_scene():
        from ..data.shapes import EVAL_SEED, make_scene, render

        return render(make_scene(EVAL_SEED, 30_001), 64)

    @_messages
    def forward(image, step, seed):
        from .learn import forward_views

        image, note = _fit(image if image is not None else default_scene(), 64, "the image")
        closed, chain, numbers = forward_views(image, int(step), int(seed))
        text = (note + f"t = {numbers['step']}: alpha_bar = {numbers['alpha_bar']:.4f}; x_t = "
                f"{numbers['signal_scale']:.3f} x_0 + {numbers['noise_scale']:.3f} eps")
        return closed, chain, text

    @_messages
    def reverse(prompt, seed, steps):
        from .learn import reverse_trajectory

        if not 2 <= int(steps) <= 30:
            raise ValueError("show 2 to 30 steps")
        with models.holding(models.text_to_image()) as pipe:
            picture, sigmas = reverse_trajectory(pipe, prompt or "", int(seed), int(steps))
        return picture, "top: x_t; bottom: x0-hat; sigma = " + ", ".join(f"{s:.2g}" for s in sigmas)

    @_messages
    def compare(prompt, seed, nfe, chosen):
        from .learn import compare_samplers

        if not 1 <= int(nfe) <= limits.steps:
            raise ValueError(f"NFE must be from 1 to {limits.steps}")
        with models.holding(models.text_to_image()) as pipe:
            return compare_samplers(pipe, prompt or "", chosen or [], int(nfe), int(seed))

    @_messages
    def play(data, seconds, chosen):
        from .learn import playground_figure, playground_samples, train_playground

        if data not in TOY_SETS:
            raise ValueError(f"choose a data set among {', '.join(TOY_SETS)}")
        if not chosen:
            raise ValueError("choose at least one sampler")
        denoiser, history = None, []
        for history, denoiser in train_playground(data, float(seconds)):
            yield playground_figure(history, data)
        paths = playground_samples(denoiser, chosen, 500, 20, trajectories=True)
        frames = max(len(p) for p in paths.values())
        for k in range(0, frames, 4):  # the points moving from noise to the data, every 4th step
            yield playground_figure(history, data, {name: p[min(k, len(p) - 1)] for name, p in paths.items()}, denoiser)
        yield playground_figure(history, data, {name: p[-1] for name, p in paths.items()}, denoiser)

    with gr.Blocks(title="difflab", analytics_enabled=False) as demo:
        gr.Markdown("# difflab\nDiffusion models you can watch: generate, edit, and see each idea work.")
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = gr.Textbox(label="prompt", value="a red circle to the left of a blue square",
                                        elem_id="prompt", max_lines=2)
                    negative = gr.Textbox(label="negative prompt", elem_id="negative", max_lines=2)
                    with gr.Row():
                        pipeline = gr.Dropdown(models.names, value=models.names[0], label="pipeline")
                        sampler = gr.Dropdown(list(SAMPLERS), value="unipc", label="sampler")
                    with gr.Row():
                        steps = gr.Slider(1, limits.steps, value=min(20, limits.steps), step=1, label="steps")
                        guidance = gr.Slider(0, limits.guidance, value=3.0, step=0.5, label="guidance")
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, label="seed", elem_id="seed")
                        dice = gr.Button("🎲 random seed", elem_id="dice")
                        n = gr.Slider(1, limits.images, value=min(4, limits.images), step=1, label="images")
                    with gr.Row():
                        style = gr.Textbox(label="style word (optional)", max_lines=1)
                        stylize = gr.Slider(0, limits.stylize, value=1.0, step=0.25, label="stylize")
                        keep_colours = gr.Checkbox(value=False, label="keep the prompt's colours (also draws the image unstyled)")
                    with gr.Accordion("style reference image (optional)", open=False):
                        with gr.Row():
                            style_image = gr.Image(label="borrow this image's style", type="numpy")
                            style_weight = gr.Slider(0.25, limits.stylize, value=1.0, step=0.25, label="style weight")
                    with gr.Row():
                        go = gr.Button("Generate", variant="primary", elem_id="generate")
                        stop = gr.Button("Stop", elem_id="stop")
                    restore_file = gr.File(label="drop a generated PNG here to restore its settings",
                                           file_types=[".png"], elem_id="pnginfo")
                with gr.Column(scale=3):
                    previews = gr.Gallery(label="x0-hat while sampling", columns=4, height=180, elem_id="previews")
                    gallery = gr.Gallery(label="images", columns=4, elem_id="gallery", format="png")
                    status = gr.Markdown(elem_id="status")
            controls = [prompt, negative, pipeline, sampler, steps, guidance, seed, n, style, stylize, keep_colours]
            event = go.click(generate, [*controls, style_image, style_weight], [previews, gallery, status],
                             api_name="generate", concurrency_id=WORK)
            stop.click(None, None, None, cancels=[event])
            dice.click(lambda: random.randrange(2**31), None, seed, api_name=False)
            restore_file.upload(restore, restore_file, controls, api_name="restore")

        with gr.Tab("Edit"):
            with gr.Tab("Inpaint"):
                with gr.Row():
                    editor = gr.ImageEditor(label="image: paint over what to regenerate", type="numpy",
                                            elem_id="inpaint_editor", brush=gr.Brush(colors=["#ff00ff"]))
                    inpainted = gr.Image(label="inpainted", elem_id="inpainted", format="png")
                with gr.Row():
                    ip_prompt = gr.Textbox(label="prompt", value="a blue square on the left")
                    ip_seed = gr.Number(value=0, precision=0, label="seed")
                    ip_steps = gr.Slider(1, limits.steps, value=min(25, limits.steps), step=1, label="steps")
                    ip_go = gr.Button("Inpaint", variant="primary", elem_id="inpaint")
                with gr.Accordion("or upload a mask (white = regenerate)", open=False):
                    ip_mask = gr.Image(label="mask", type="numpy", image_mode="L")
                ip_note = gr.Markdown()
                ip_go.click(inpaint, [editor, ip_prompt, ip_seed, ip_steps, ip_mask], [inpainted, ip_note],
                            api_name="inpaint", concurrency_id=WORK)
            with gr.Tab("Image to image"):
                with gr.Row():
                    i2i_in = gr.Image(label="image", type="numpy")
                    i2i_out = gr.Image(label="result", format="png")
                with gr.Row():
                    i2i_prompt = gr.Textbox(label="prompt", value="a green triangle on the right")
                    strength = gr.Slider(0, 1, value=0.6, step=0.05, label="strength")
                    i2i_seed = gr.Number(value=0, precision=0, label="seed")
                    i2i_steps = gr.Slider(1, limits.steps, value=min(30, limits.steps), step=1, label="steps")
                    i2i_go = gr.Button("Transform", variant="primary")
                i2i_note = gr.Markdown()
                i2i_go.click(img2img, [i2i_in, i2i_prompt, strength, i2i_seed, i2i_steps], [i2i_out, i2i_note],
                             api_name="img2img", concurrency_id=WORK)
            with gr.Tab("Upscale x4"):
                up_in = gr.Image(label="image (up to 128 x 128)", type="numpy")
                up_out = gr.ImageSlider(label="before / after", format="png")
                up_go = gr.Button("Upscale", variant="primary")
                up_go.click(upscale, up_in, up_out, api_name="upscale", concurrency_id=WORK)
            with gr.Tab("Variations"):
                var_in = gr.Image(label="image", type="numpy")
                with gr.Row():
                    var_seed = gr.Number(value=0, precision=0, label="seed")
                    var_n = gr.Slider(1, limits.images, value=min(4, limits.images), step=1, label="images")
                    var_go = gr.Button("Variations", variant="primary")
                var_out = gr.Gallery(label="variations", columns=4, format="png")
                var_note = gr.Markdown()
                var_go.click(variations, [var_in, var_seed, var_n], [var_out, var_note],
                             api_name="variations", concurrency_id=WORK)

        with gr.Tab("Learn"):
            with gr.Tab("Forward process"):
                gr.Markdown("Noise an image to step t two ways: the closed form q(x_t | x_0) and the chain of t "
                            "one-step transitions. They are draws of the same distribution.")
                with gr.Row():
                    fw_in = gr.Image(label="image (default: a shapes scene)", type="numpy")
                    fw_closed = gr.Image(label="closed form", elem_id="forward_closed", format="png")
                    fw_chain = gr.Image(label="chain of t steps", elem_id="forward_chain", format="png")
                fw_step = gr.Slider(1, FORWARD_T, value=100, step=1, label="t", elem_id="forward_step")
                fw_seed = gr.Number(value=0, precision=0, label="seed")
                fw_note = gr.Markdown(elem_id="forward_note")
                fw_step.release(forward, [fw_in, fw_step, fw_seed], [fw_closed, fw_chain, fw_note],
                                api_name="forward", concurrency_id=WORK)
                fw_in.change(forward, [fw_in, fw_step, fw_seed], [fw_closed, fw_chain, fw_note],
                             api_name=False, concurrency_id=WORK)
            with gr.Tab("Reverse process"):
                with gr.Row():
                    rv_prompt = gr.Textbox(label="prompt", value="a red circle to the left of a blue square")
                    rv_seed = gr.Number(value=0, precision=0, label="seed")
                    rv_steps = gr.Slider(2, 30, value=10, step=1, label="steps")
                    rv_go = gr.Button("Show", variant="primary")
                rv_out = gr.Image(label="reverse trajectory", format="png")
                rv_note = gr.Markdown()
                rv_go.click(reverse, [rv_prompt, rv_seed, rv_steps], [rv_out, rv_note],
                            api_name="reverse", concurrency_id=WORK)
            with gr.Tab("Samplers"):
                with gr.Row():
                    cmp_prompt = gr.Textbox(label="prompt", value="a purple circle above an orange triangle")
                    cmp_seed = gr.Number(value=0, precision=0, label="seed")
                    cmp_nfe = gr.Slider(2, min(50, limits.steps), value=min(10, limits.steps), step=1, label="network evaluations (NFE)")
                cmp_choice = gr.CheckboxGroup(list(SAMPLERS), value=["ddim", "dpmpp-2m", "unipc", "heun"],
                                              label="samplers")
                cmp_go = gr.Button("Compare", variant="primary")
                cmp_out = gr.Gallery(label="same seed, same NFE", columns=5, format="png")
                cmp_go.click(compare, [cmp_prompt, cmp_seed, cmp_nfe, cmp_choice], cmp_out,
                             api_name="compare", concurrency_id=WORK)
            with gr.Tab("2-D playground"):
                with gr.Row():
                    pg_data = gr.Dropdown(list(TOY_SETS), value="moons", label="data")
                    pg_seconds = gr.Slider(2, 60, value=10, step=1, label="train for (seconds)")
                    pg_choice = gr.CheckboxGroup(["ddim", "euler", "heun", "unipc", "ddpm"], value=["ddpm", "unipc"],
                                                 label="samplers")
                pg_go = gr.Button("Train, then sample", variant="primary")
                pg_plot = gr.Plot(label="loss, then samples over the data with the learned score field")
                pg_go.click(play, [pg_data, pg_seconds, pg_choice], pg_plot, api_name="playground", concurrency_id=WORK)
            with gr.Tab("Check yourself"):
                def score_demo():
                    yield from play("8gaussians", 8, ["ddpm"])

                for k, (question, answer) in enumerate(QUESTIONS):
                    with gr.Accordion(question, open=False):
                        gr.Markdown(answer)
                        show = gr.Button("Show me", elem_id=f"question{k + 1}")
                        if k == 0:
                            q_out, q_note = gr.Image(), gr.Markdown()
                            show.click(lambda: reverse("a red circle to the left of a blue square", 0, 8), None,
                                       [q_out, q_note], api_name=False, concurrency_id=WORK)
                        elif k == 1:
                            q_a, q_b, q_note = gr.Image(label="closed form, t = 250"), gr.Image(label="chain, t = 250"), \
                                gr.Markdown()
                            show.click(lambda: forward(None, 250, 0), None, [q_a, q_b, q_note],
                                       api_name=False, concurrency_id=WORK)
                        else:
                            q_plot = gr.Plot()
                            show.click(score_demo, None, q_plot, api_name=False, concurrency_id=WORK)
    return demo
