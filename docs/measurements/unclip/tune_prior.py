"""Choose the prior's sampling defaults on the tuning range of held-out scenes (TUNING_START),
never on the reported range; write the results as JSON."""
import json, sys
from difflab.io.folders import load_model, load_autoencoder
from difflab.pipelines.clip import CLIPEncoder
from difflab.pipelines.unclip import UnCLIPPipeline
from difflab.evaluate.unclip import evaluate_prior, TUNING_START

clip, prior_dir, decoder_dir, out = sys.argv[1:5]
prior, pc = load_model(prior_dir)
decoder, _ = load_model(decoder_dir)
ae, _ = load_autoencoder(decoder_dir + "/autoencoder")
pipe = UnCLIPPipeline(CLIPEncoder.load(clip), prior, pc["standardise"], ae, decoder)
rows = []
for guidance in (1.0, 1.5, 2.0, 3.0):
    for candidates in (1, 2, 4):
        r = evaluate_prior(pipe, 300, start=TUNING_START, guidance=guidance, candidates=candidates)
        rows.append(r)
        print(guidance, candidates, round(r["cosine_prior"], 4), round(r["cosine_text_embedding"], 4),
              round(r["cosine_another_image"], 4), flush=True)
json.dump(rows, open(out, "w"), indent=2)
