"""Choose the shipped prior's sampling defaults on the tuning range of held-out scenes (TUNING_START,
never reported), after the prior's context length was fixed to its training length (session 13).

    .venv/bin/python docs/measurements/unclip/tune_prior_shipped.py > docs/measurements/unclip/prior_tuning_context.txt
"""
from difflab.evaluate.unclip import TUNING_START, evaluate_prior
from difflab.pipelines.unclip import UnCLIPPipeline

pipe = UnCLIPPipeline.shipped()
print("# guidance candidates cosine_prior(one draw) cosine_text_embedding cosine_another_image")
for guidance in (1.0, 1.5, 2.0, 3.0):
    for candidates in (1, 2, 4):
        r = evaluate_prior(pipe, 300, start=TUNING_START, draws=1, guidance=guidance, candidates=candidates)
        print(guidance, candidates, round(r["cosine_prior"], 4), round(r["cosine_text_embedding"], 4),
              round(r["cosine_another_image"], 4), flush=True)
