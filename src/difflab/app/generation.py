"""What the web app's Generate tab does, without the web: a checked request, generation
with streamed previews and a stop switch, and PNGs that carry their parameters.

Previews are the sampler's current clean estimate x0-hat (its ``callback``), decoded after
each step: what the image is becoming. Sampling runs in a worker thread; the stream yields
each preview as it comes, and setting ``stop`` ends the sampler at its next step.

Each PNG carries its generation parameters as JSON in a ``parameters`` text chunk (the
"PNG info" convention of AUTOMATIC1111 and ComfyUI); :func:`read_parameters` gives them
back, so a PNG dropped on the page restores the settings that made it (seed: that
image's own).
"""

from __future__ import annotations

import io
import json
import math
import queue
import threading
from dataclasses import dataclass, field, fields
from typing import Iterator

import numpy as np

__all__ = ["Request", "Limits", "check_request", "generate_stream", "png_bytes", "read_parameters", "Stopped",
           "SAMPLERS", "PNG_KEY"]

#: samplers offered for text-to-image (deterministic and stochastic, first- to third-order)
SAMPLERS = ("unipc", "dpmpp-2m", "ddim", "euler", "heun", "lms", "deis", "dpmpp-2m-sde", "dpmpp-3m-sde", "ddpm")
PNG_KEY = "parameters"


class Stopped(Exception):
    """The user pressed Stop."""


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (checked before any work, with a one-line message)."""

    images: int = 8
    steps: int = 100
    prompt_chars: int = 300
    guidance: float = 20.0
    stylize: float = 10.0


@dataclass
class Request:
    """One generation: what the Generate tab's controls say."""

    prompt: str
    pipeline: str
    negative_prompt: str = ""
    sampler: str = "unipc"
    steps: int = 20
    guidance: float = 3.0
    seed: int = 0
    n: int = 4
    style: str = ""
    stylize: float = 1.0
    style_weight: float = 1.0
    style_ref: np.ndarray | None = field(default=None, repr=False)  # an uploaded reference image (uint8)
    keep_colours: bool = False  # the hue of the same prompt and seed drawn without the style

    def parameters(self, index: int = 0) -> dict:
        """The parameters of image ``index`` of this request (its own seed, one image); a style
        reference image is noted, not stored."""
        from .. import __version__

        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "style_ref"}
        if self.style_ref is None:
            out.pop("style_weight")
        return {**out, "seed": self.seed + index, "n": 1, "difflab_version": __version__,
                **({"style_ref": "an uploaded image (not stored)"} if self.style_ref is not None else {})}


def check_request(req: Request, pipelines, limits: Limits = Limits()) -> None:
    """A one-line ValueError for anything a request may not ask for."""
    if not isinstance(req.prompt, str) or len(req.prompt) > limits.prompt_chars:
        raise ValueError(f"the prompt may have at most {limits.prompt_chars} characters")
    if len(req.negative_prompt or "") > limits.prompt_chars:
        raise ValueError(f"the negative prompt may have at most {limits.prompt_chars} characters")
    if req.pipeline not in pipelines:
        raise ValueError(f"unknown pipeline {req.pipeline!r}; choose one of: {', '.join(pipelines)}")
    if req.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {req.sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    for name in ("steps", "n", "guidance", "stylize", "seed", "style_weight"):
        value = getattr(req, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{'images' if name == 'n' else name.replace('_', ' ')} must be a finite number, got {value!r}")
    for name, value, low, high in (("steps", req.steps, 1, limits.steps), ("images", req.n, 1, limits.images)):
        if not isinstance(value, (int, float)) or int(value) != value or not low <= value <= high:
            raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value}")
    if not 0 <= float(req.guidance) <= limits.guidance:
        raise ValueError(f"guidance must be from 0 to {limits.guidance:g}, got {req.guidance}")
    if not 0 <= float(req.stylize) <= limits.stylize:
        raise ValueError(f"stylize must be from 0 to {limits.stylize:g}, got {req.stylize}")
    if int(req.seed) != req.seed or not 0 <= req.seed < 2**31:
        raise ValueError(f"the seed must be a whole number from 0 to {2**31 - 1}, got {req.seed}")
    if len(req.style or "") > 40:
        raise ValueError("the style may have at most 40 characters")
    if not isinstance(req.keep_colours, bool):
        raise ValueError(f"keep colours must be true or false, got {req.keep_colours!r}")
    if req.keep_colours and not (req.style or "").strip() and req.style_ref is None:
        raise ValueError("keeping the prompt's colours applies under a style: give a style word or a reference image")
    if not 0 < float(req.style_weight) <= limits.stylize:
        raise ValueError(f"the style weight must be above 0 and at most {limits.stylize:g}, got {req.style_weight}")


def _settings(req: Request, pipe) -> dict:
    from ..pipelines.unclip import UnCLIPPipeline

    settings = {"sampler": req.sampler, "steps": int(req.steps), "guidance": float(req.guidance)}
    if isinstance(pipe, UnCLIPPipeline):
        if req.negative_prompt or req.style or req.style_ref is not None:
            raise ValueError("negative prompts and styles apply to text-to-image pipelines, not to unCLIP")
        return settings
    if req.style_ref is not None:
        settings.update({"style_ref": req.style_ref, "style_weight": float(req.style_weight)})
    if req.negative_prompt:
        settings["negative_prompt"] = req.negative_prompt
    if req.style:
        settings["style"] = req.style
        if float(req.stylize) != 1.0:
            settings["stylize"] = float(req.stylize)
    return settings


def generate_stream(pipe, req: Request, stop: threading.Event | None = None,
                    preview_every: int = 1) -> Iterator[tuple[str, np.ndarray]]:
    """Generate ``req`` with ``pipe``: yields ``("preview", images)`` (uint8 (n, H, W, 3), the
    decoded x0-hat) after steps of the sampler (text-to-image pipelines), then
    ``("final", images)``. ``stop.set()`` (from any thread) ends sampling at its next step
    and the stream with :class:`Stopped`."""
    from ..data.shapes import to_uint8
    from ..denoiser import SharedEvaluations
    from ..pipelines.text_to_image import TextToImagePipeline

    stop = stop or threading.Event()
    settings = _settings(req, pipe)
    prompts = [req.prompt] * int(req.n)
    out: queue.Queue = queue.Queue()
    done = object()

    def preview(step: dict) -> None:
        if stop.is_set():
            raise Stopped()
        if step["i"] % preview_every == 0:
            out.put(("preview", to_uint8(pipe.decode(step["x0"]))))

    def halt(step: dict) -> None:
        if stop.is_set():
            raise Stopped()

    def work() -> None:
        try:
            if isinstance(pipe, TextToImagePipeline):
                shared = SharedEvaluations() if req.keep_colours else None
                z, _ = pipe.latents(prompts, seed=int(req.seed), callback=preview, shared=shared, **settings)
                images = pipe.decode(z)
                if req.keep_colours:  # the unstyled run only lends its hue: no previews of it
                    images, _ = pipe.keep_prompt_colours(images, prompts, seed=int(req.seed), callback=halt,
                                                         shared=shared, **settings)
                out.put(("final", to_uint8(images)))
            else:
                out.put(("final", pipe(prompts, seed=int(req.seed), **settings)))
        except BaseException as e:  # handed to the stream, raised there
            out.put(("error", e))
        finally:
            out.put((done, None))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = out.get()
            if kind is done:
                break
            if kind == "error":
                raise value
            yield kind, value
    finally:  # the consumer went away (Stop, a closed page): end the sampler too
        stop.set()
        worker.join()


def png_bytes(image: np.ndarray, parameters: dict) -> bytes:
    """``image`` (uint8 (H, W, 3)) as PNG bytes with ``parameters`` as JSON in its text chunk."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text(PNG_KEY, json.dumps(parameters, sort_keys=True))
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def read_parameters(source) -> dict:
    """The generation parameters a difflab PNG carries (a path, bytes or a PIL image); a
    one-line ValueError for an image that carries none."""
    from PIL import Image

    try:
        image = source if isinstance(source, Image.Image) else Image.open(
            io.BytesIO(source) if isinstance(source, bytes) else source)
        text = image.info.get(PNG_KEY) or getattr(image, "text", {}).get(PNG_KEY)
    except (OSError, ValueError) as e:
        raise ValueError(f"not a readable image ({e})") from None
    if not text:
        raise ValueError("this image carries no difflab generation parameters (only PNGs generated here do)")
    try:
        parameters = json.loads(text)
    except ValueError:
        raise ValueError("this image's generation parameters are not valid JSON") from None
    if not isinstance(parameters, dict):
        raise ValueError("this image's generation parameters are not a JSON object")
    return parameters
