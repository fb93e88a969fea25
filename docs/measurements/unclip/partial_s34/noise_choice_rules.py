"""Issue 19, session 34, tuning range only: rules for choosing an interpolation's one noise among K candidates,
compared offline on noise_choice.py's output (the first K candidates of each pair). A pair is monotone when its
margin never decreases (evaluate_interpolation's test).

    .venv/bin/python docs/measurements/unclip/partial_s34/noise_choice_rules.py noise_choice_60x4.json
"""
import json
import sys

import numpy as np

rows = json.load(open(sys.argv[1]))
rules = {
    "ends (mean cosine of the end frames to their sources)": lambda c: sum(c["ends"]),
    "worse end": lambda c: min(c["ends"]),
    "path (mean cosine of every frame to its path point)": lambda c: float(np.mean(c["path"])),
}
k_all = len(rows[0]["candidates"])
print(f"{len(rows)} pairs, up to {k_all} noises")
for name, score in rules.items():
    for k in [k for k in (1, 2, 4, 8) if k <= k_all]:
        picks = [max(r["candidates"][:k], key=score) for r in rows]
        m = [np.diff(np.array(c["margin"])) for c in picks]
        print(json.dumps({"rule": name, "k": k, "monotone": round(float(np.mean([(d >= 0).all() for d in m])), 3),
                          "inner_monotone": round(float(np.mean([(d[1:-1] >= 0).all() for d in m])), 3),
                          "ends_cosine": round(float(np.mean([np.mean(c["ends"]) for c in picks])), 3),
                          "path_cosine": round(float(np.mean([np.mean(c["path"]) for c in picks])), 3)}))
any_mono = np.mean([any((np.diff(c["margin"]) >= 0).all() for c in r["candidates"]) for r in rows])
print(f"any of the {k_all} noises monotone (a bound, not a rule): {any_mono:.3f}")
first = [np.diff(np.array(r["candidates"][0]["margin"])) for r in rows]
at_ends = np.mean([d[0] < 0 or d[-1] < 0 for d in first])
print(f"one noise (candidate 0): a dip at the first or last step in {at_ends:.3f} of the pairs")
head = rows[:30]  # the pairs trunk.py 30 measures
for name, picks in (("one noise", [r["candidates"][0] for r in head]),
                    ("the ends' best of 4", [max(r["candidates"][:4], key=rules[next(iter(rules))]) for r in head])):
    print(f"first 30 pairs, {name}: monotone {np.mean([(np.diff(c['margin']) >= 0).all() for c in picks]):.3f}, "
          f"ends' cosine {np.mean([np.mean(c['ends']) for c in picks]):.3f}")
