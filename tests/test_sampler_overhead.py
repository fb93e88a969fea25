"""Issue 16, point 5: the samplers precompute their grid's coefficients once per run and fuse
their updates of x.

The outputs are those of the per-step code they replaced (commit c067f4c): REFERENCE holds,
for every case, the sum of the output and three of its entries as that code computed them
on the exact Gaussian-mixture denoiser (float64 state; the stochastic ones with a seeded
generator), compared within 1e-6 relative. The coefficient tables are bit for bit the
per-step ones (the same float64 operations, batched); euler's output is bit for bit the old
one; heun, dpmpp-2m(-sde), deis, unipc and lms add their terms by fused multiply-adds
(``add`` with ``alpha``: one rounding where ``a + w * t`` has two, and another order of the
sum), which moves float64 outputs by at most ~2e-14 relative and float32 ones by a few ulps."""

import math

import pytest
import torch

import difflab
from difflab.grids import karras_grid, log_snr_grid, make_grid
from difflab.models import eight_gaussians
from difflab.samplers.dpm_solver import exp_integrator_weights, multistep_weights
from difflab.samplers.lms import lms_coefficients, lms_weights
from difflab.schedules import DiscreteSchedule

DEN = eight_gaussians().denoiser(DiscreteSchedule("linear", 1000))
_S = DEN.schedule
GRIDS = {
    "karras5": lambda: karras_grid(float(_S.ve_sigma_at_index(0)), _S.ve_sigma_max, 5),
    "karras12": lambda: karras_grid(float(_S.ve_sigma_at_index(0)), _S.ve_sigma_max, 12),
    "logsnr9": lambda: log_snr_grid(0.02, 80.0, 9),
    "trailing6": lambda: make_grid(_S, 6),  # first step spans decades: Heun's capped branch
    "trailing25": lambda: make_grid(_S, 25),
    "tuned10": lambda: _old_tuned10(),
}
def _old_tuned10() -> torch.Tensor:
    """The ``tuned`` grid at 10 steps as it was when REFERENCE was computed (sigma_max, then 9
    levels uniform in log sigma from 3.2 to 0.06, then 0): the references are of the samplers'
    code, not of the grid rule, which has changed since."""
    inner = torch.exp(torch.linspace(math.log(3.2), math.log(0.06), 9, dtype=torch.float64))
    return torch.cat([torch.tensor([float(_S.ve_sigma_max)], dtype=torch.float64), inner, torch.zeros(1, dtype=torch.float64)])


#: (sampler, grid, options); the stochastic samplers draw from a generator seeded with 3
CASES = [
    *[("heun", g, {}) for g in ("karras5", "karras12", "trailing6", "trailing25")],
    ("heun", "karras12", {"churn": 2.0, "s_noise": 1.003}),
    ("heun", "trailing25", {"churn": 10.0, "s_tmin": 0.05, "s_tmax": 5.0}),
    ("euler", "karras12", {}),
    ("euler", "trailing6", {"churn": 3.0}),
    *[("dpmpp-2m", g, {}) for g in ("karras5", "logsnr9", "trailing25")],
    *[("dpmpp-2m-sde", g, {}) for g in ("karras5", "logsnr9", "trailing25")],
    ("dpmpp-2m-sde", "karras12", {"eta": 0.5, "s_noise": 0.9}),
    ("dpmpp-2m-sde", "karras12", {"eta": 0.0}),
    *[("deis", g, {"order": k}) for g in ("karras12", "trailing25") for k in (1, 2, 3, 4)],
    ("deis", "logsnr9", {"order": 3, "lower_order_final": False}),
    ("deis", "karras5", {"order": 4}),
    *[("unipc", g, {"order": k}) for g in ("karras12", "trailing25") for k in (1, 2, 3, 4)],
    ("unipc", "tuned10", {}),
    ("unipc", "karras5", {"order": 4, "lower_order_final": False}),
    ("unipc", "logsnr9", {"sigma_data": None}),
    ("unipc", "karras12", {"order": 2, "sigma_data": 0.5, "lower_order_final": False}),
    ("unipc", "trailing6", {"order": 4, "sigma_data": None, "lower_order_final": False}),
    *[("lms", g, {"order": k}) for g in ("karras12", "trailing25") for k in (1, 2, 3, 4)],
    ("lms", "karras5", {"order": 4}),
    ("lms", "logsnr9", {"order": 6}),
]
ENTRIES = ((0, 0), (17, 1), (63, 0))


def run_case(name: str, grid: str, options: dict) -> torch.Tensor:
    sig = GRIDS[grid]()
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * math.sqrt(1 + float(sig[0]) ** 2)
    if name == "unipc":  # the references are of UniPC at a fixed order (the per-sample order rule came later)
        options = {"adaptive_order": False, **options}
    return difflab.SAMPLERS[name](DEN, x, sig, generator=torch.Generator().manual_seed(3), **options)


def case_id(case) -> str:
    name, grid, options = case
    return "-".join([name, grid, *(f"{k}={v}" for k, v in options.items())])


def fingerprint(out: torch.Tensor) -> list[float]:
    return [float(out.sum()), *(float(out[i, j]) for i, j in ENTRIES)]


#: case id -> fingerprint (sum, entries) of the output at c067f4c
REFERENCE = {
    'heun-karras5': [4.826368596537076, -2.1653210591230034, -2.0340583643795553, 1.9296175177839334],
    'heun-karras12': [5.889419014902352, -2.3574712851965747, -2.093440814211305, 2.1449794083444345],
    'heun-trailing6': [4.709231646380138, -2.1036552760795595, -2.006352275298244, 1.881903406148424],
    'heun-trailing25': [6.060386398918103, -2.271919059937873, -2.040251173476226, 2.093058881940982],
    'heun-karras12-churn=2.0-s_noise=1.003': [-18.57216817909495, -1.76086308643746, -1.5582825095619313, 1.813298535405635],
    'heun-trailing25-churn=10.0-s_tmin=0.05-s_tmax=5.0': [-28.138408592897626, -1.5284685479882232, -1.0066636124339887, 1.3653755319548488],
    'euler-karras12': [4.593029685908796, -2.1587837239311694, -1.9102410910496697, 1.9346534516288243],
    'euler-trailing6-churn=3.0': [-6.509076553012795, -1.8528724818625273, -1.583173113453308, 0.5725350333239896],
    'dpmpp-2m-karras5': [6.017042687231907, -2.9663961709152256, -2.8745020929951677, 2.655096840512347],
    'dpmpp-2m-logsnr9': [5.9079736365459485, -2.414860177530482, -2.1702232002790955, 2.1804676549154],
    'dpmpp-2m-trailing25': [6.15994184838865, -2.264525921865377, -2.0422479423136823, 2.1036080735984153],
    'dpmpp-2m-sde-karras5': [-4.088217347045127, -2.3814398289320615, -0.9348107971416113, 0.03964752076474148],
    'dpmpp-2m-sde-logsnr9': [5.545817536418003, -1.7659705105076584, -1.601373145471017, 1.6262461543566846],
    'dpmpp-2m-sde-trailing25': [-36.74439168709355, -1.1288714314118529, 2.2295987854375663, -1.5793386735560162],
    'dpmpp-2m-sde-karras12-eta=0.5-s_noise=0.9': [-13.796702642676205, -1.5931126742835735, -0.23378220493436044, 1.4502187407957543],
    'dpmpp-2m-sde-karras12-eta=0.0': [6.2007458619509075, -2.4729377083645505, -2.2470684607936957, 2.2649233336144667],
    'deis-karras12-order=1': [4.593029685908791, -2.1587837239311702, -1.9102410910496705, 1.9346534516288245],
    'deis-karras12-order=2': [6.2768123310807535, -2.460341436002856, -2.2693337833983875, 2.2634146222943556],
    'deis-karras12-order=3': [6.756099355275144, -2.338592937082025, -2.2374982201603055, 2.140403837289416],
    'deis-karras12-order=4': [6.872685329326545, -2.309703758325098, -2.2611162701564202, 2.1376853066359933],
    'deis-trailing25-order=1': [5.696156456112147, -2.2273983148028584, -2.0124213958823773, 2.0438033356436804],
    'deis-trailing25-order=2': [5.964095480523399, -2.252175911749449, -2.0404393754190453, 2.0771737400561765],
    'deis-trailing25-order=3': [5.987308031478929, -2.2505353809447897, -2.0369946527952845, 2.07796628406917],
    'deis-trailing25-order=4': [5.989814532179968, -2.2507363038388157, -2.0371472261619923, 2.0788994797184928],
    'deis-logsnr9-order=3-lower_order_final=False': [5.9457999185322965, -2.2565850706062154, -1.9551521048410059, 2.027240819709059],
    'deis-karras5-order=4': [3.7336190489515237, -2.035157112817327, -1.826700212237063, 1.76521852152758],
    'unipc-karras12-order=1': [4.9569180234973365, -2.2320768852468706, -1.9904284365139913, 2.011859449542284],
    'unipc-karras12-order=2': [5.417166829727204, -2.299226839671641, -2.079912369979106, 2.087203003836896],
    'unipc-karras12-order=3': [5.481726326345994, -2.251011443904193, -2.063585971660622, 2.0479290914316124],
    'unipc-karras12-order=4': [5.513326654192804, -2.2352707629092636, -2.065850259396199, 2.0376497873385526],
    'unipc-trailing25-order=1': [5.896123038568142, -2.2470918639951, -2.03257188004336, 2.071528352623554],
    'unipc-trailing25-order=2': [5.986110823727465, -2.2718720162979973, -2.0377727740456644, 2.087240399612251],
    'unipc-trailing25-order=3': [5.992171364049969, -2.2718422985341533, -2.037743660593014, 2.087697313453111],
    'unipc-trailing25-order=4': [5.993191231466541, -2.2718830739486973, -2.0377392198853896, 2.0878194918549458],
    'unipc-tuned10': [5.692145550555474, -2.3048508695666214, -2.0407456228933354, 2.0942069648973307],
    'unipc-karras5-order=4-lower_order_final=False': [5.042868392638232, -2.038742227003791, -2.1541710488885264, 1.8842745108812926],
    'unipc-logsnr9-sigma_data=None': [6.344110641865316, -2.3065173095766562, -2.07278796596426, 2.0667195912207488],
    'unipc-karras12-order=2-sigma_data=0.5-lower_order_final=False': [5.810327051961115, -2.361107926072897, -2.1634620866376273, 2.152007352946083],
    'unipc-trailing6-order=4-sigma_data=None-lower_order_final=False': [4.492227912100947, -2.0821734527386813, -2.018734314435013, 1.8656599666078697],
    'lms-karras12-order=1': [4.593029685908789, -2.1587837239311694, -1.9102410910496699, 1.9346534516288243],
    'lms-karras12-order=2': [4.933469897372591, -2.2261793244557113, -1.9837073937740684, 2.0056980426353603],
    'lms-karras12-order=3': [5.037486142251365, -2.2428828174081064, -2.001560615568863, 2.023954677971161],
    'lms-karras12-order=4': [5.080913766848294, -2.2492803298590154, -2.0083712329233605, 2.0310593054602166],
    'lms-trailing25-order=1': [5.696156456112153, -2.227398314802859, -2.0124213958823773, 2.043803335643681],
    'lms-trailing25-order=2': [5.992540046140245, -2.2795781573845573, -2.036038521911272, 2.0904284796034207],
    'lms-trailing25-order=3': [5.888884371041156, -2.298742030442642, -2.0395557339756, 2.087256426121128],
    'lms-trailing25-order=4': [5.638914154143183, -2.3094530672205944, -2.041712648558333, 2.0735369205342353],
    'lms-karras5-order=4': [3.6073187356167287, -1.9984038552506977, -1.8141356645765596, 1.7525104836108072],
    'lms-logsnr9-order=6': [5.059549110106131, -2.240375725401298, -1.9844772056615203, 2.005905660482783],
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_same_output_as_the_per_step_code(case):
    got = fingerprint(run_case(*case))
    assert got == pytest.approx(REFERENCE[case_id(case)], rel=1e-6, abs=1e-9)


def test_weight_tables_are_the_single_step_weights():
    """The batched precompute gives every step, bit for bit, the weights one call for that step gives."""
    s = GRIDS["trailing25"]().tolist()
    lams = [-math.log(v) if v > 0 else math.inf for v in s]
    for order, lower_order_final, sigma_data in ((3, True, None), (4, False, 1.0), (2, True, 0.5)):
        predictor, corrector = multistep_weights(lams, order, lower_order_final, True, sigma_data)
        assert sorted(predictor) == list(range(len(s) - 2)) and sorted(corrector) == list(range(1, len(s) - 1))
        for i, w in predictor.items():
            assert w == exp_integrator_weights(lams[i::-1][: len(w)], lams[i + 1], sigma_data=sigma_data).tolist()
        for i, w in corrector.items():
            assert w == exp_integrator_weights(lams[i::-1][: len(w)], lams[i], lams[i - 1], sigma_data).tolist()
    for i, c in enumerate(lms_coefficients(s, 4)):
        assert len(c) == min(i + 1, 4) and c == lms_weights(s[i::-1][: len(c)], s[i], s[i + 1]).tolist()
