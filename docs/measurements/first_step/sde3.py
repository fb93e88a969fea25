"""Tuning split: difflab's dpmpp-3m-sde (and 2m-sde) on its default grid against difflab's default and k-diffusion's
dpmpp_3m_sde, 4 draws, N = 2000."""
import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3] / "benchmarks"))
import torch
import samplers as B, sampler_families as SF
torch.set_num_threads(1)
runs = {"default": B.difflab_run("unipc"), "3m-sde": B.difflab_run("dpmpp-3m-sde"), "2m-sde": B.difflab_run("dpmpp-2m-sde"),
        "kd 3m exp": SF.kdiff_run("dpmpp_3m_sde", "exponential"), "kd 3m karras": SF.kdiff_run("dpmpp_3m_sde", "karras")}
for s in [int(x) for x in sys.argv[1].split(",")]:
    rec = SF.evaluate(s, 2000, (10, 20), {"difflab": runs}, draws=4)
    d = rec["results"]["difflab"]
    print(s, rec["dim"], rec["components"], "true %.2f exact %.2f" % (rec["true_draw"], rec["exact"]),
          " | ".join(f"{k}: " + "/".join(f"{d[k][n]['ratio']:.2f}" for n in ("10", "20")) for k in d), flush=True)
