"""``difflab serve``: the web app (Gradio) over the library's pipelines.

- Generate: prompt, negative prompt, pipeline, sampler, steps, guidance, seed (and a dice),
  images; x0-hat streamed while sampling, Stop; PNGs that carry their parameters, and a
  drop zone that restores them (:mod:`difflab.app.generation`).
- Edit: inpainting with a mask painted in the page, image-to-image with a strength slider,
  x4 upscaling with a before / after slider, unCLIP variations.
- Learn: the forward process (closed form beside the chain), a reverse trajectory, samplers
  at equal NFE, a 2-D playground, and the course's three questions answered by live
  demonstrations (:mod:`difflab.app.learn`).

Serving (:func:`serve`): 127.0.0.1 by default; every event that runs a model is in one
concurrency group (:data:`~difflab.app.ui.WORK`), ``concurrency`` jobs at a time in all, and
the handlers that use one pipeline take turns on its lock (:meth:`~difflab.app.ui.Models.holding`:
a learned style or a style reference changes the network while its generation runs); every
request checked against :class:`~difflab.app.generation.Limits`
with a message in the page; inputs arrive as uploaded pixels, never as paths; uploads and
outputs live in a fresh temporary folder; Gradio's analytics are off. Gradio is the extra
``difflab[app]``, imported only here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .generation import Limits

__all__ = ["serve", "default_models", "Limits"]


def default_models(model: str | None = None) -> dict:
    """name -> loader of the pipelines to offer: ``model`` (a text-to-image or unCLIP folder)
    if given, else the shipped text-to-image, styled text-to-image and unCLIP pipelines."""
    from ..pipelines.text_to_image import TextToImagePipeline, shipped_model_path
    from ..pipelines.unclip import UnCLIPPipeline, is_unclip_folder, shipped_unclip_path

    if model is not None:
        folder = Path(model)
        if not folder.is_dir():
            raise FileNotFoundError(f"pipeline folder {model!r} does not exist")
        load = UnCLIPPipeline.load if is_unclip_folder(folder) else TextToImagePipeline.load
        return {folder.name: lambda: load(folder)}
    return {"shapes-t2i (text-to-image)": lambda: TextToImagePipeline.load(shipped_model_path()),
            "shapes-t2i-styles (style words, style references)": lambda: TextToImagePipeline.load(shipped_model_path(True)),
            "shapes-unclip (DALL-E 2 style)": lambda: UnCLIPPipeline.load(shipped_unclip_path())}


def prepare_environment() -> Path:
    """Gradio's analytics off and its uploads in a fresh temporary folder (set before Gradio
    is imported); returns that folder."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    temp = Path(tempfile.mkdtemp(prefix="difflab-serve-"))
    os.environ["GRADIO_TEMP_DIR"] = str(temp / "uploads")
    return temp


def serve(model: str | None = None, host: str = "127.0.0.1", port: int = 7860, concurrency: int = 1,
          limits: Limits = Limits(), block: bool = True):
    """Build the app over ``model`` (or the shipped pipelines) and serve it; returns the
    Gradio app (with ``block=False``, already serving in the background)."""
    temp = prepare_environment()
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ImportError("difflab serve needs Gradio: pip install 'difflab[app]'") from None
    from .ui import Models, build_app

    demo = build_app(Models(default_models(model)), limits, out_dir=temp / "outputs")
    (temp / "outputs").mkdir(parents=True, exist_ok=True)
    demo.queue(default_concurrency_limit=concurrency)
    demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
                allowed_paths=[str(temp / "outputs")], show_error=False, quiet=not block)
    return demo
