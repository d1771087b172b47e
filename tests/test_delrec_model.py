"""DELRec model class: config checks, save/reload through AutoModel (same scores), rank/recommend behaviour."""

import json

import pytest
import torch
from safetensors.torch import load_file

import hf_delrec  # noqa: F401
from delrec_synthetic import make_prepared
from hf_delrec.models.delrec import DELRec, DELRecConfig
from hf_delrec.models.soft_prompt import SoftPrompt
from tiny_models import make_tiny_causal_lm


@pytest.fixture
def tiny_lm_dir(tmp_path):
    path = tmp_path / "tiny_lm"
    make_tiny_causal_lm(path, tie_word_embeddings=True)
    return path


def _model(lm_dir, with_prompt=True, with_lora=False, scoring="full_title"):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    llm = AutoModelForCausalLM.from_pretrained(str(lm_dir), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(lm_dir))
    torch.manual_seed(1)
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=4, init_std=0.5) if with_prompt else None
    titles = make_prepared(num_items=30).titles
    config = DELRecConfig(base_model_name_or_path=str(lm_dir), num_candidates=5, max_history_items=4, scoring=scoring)
    model = DELRec.from_parts(config, llm, tok, soft_prompt=prompt, item_titles=titles)
    if with_lora:
        from peft import LoraConfig, get_peft_model

        # init_lora_weights=False: non-zero B, so the adapter really changes the scores.
        model.llm = get_peft_model(model.llm, LoraConfig(r=2, target_modules=["q_proj", "v_proj"],
                                                         init_lora_weights=False, task_type="CAUSAL_LM"))
    return model.eval()


def test_config_rejects_bad_values():
    with pytest.raises(Exception, match="scoring"):
        DELRecConfig(scoring="argmax")
    with pytest.raises(Exception, match="lora_subfolder"):
        DELRecConfig(lora_subfolder=".")
    with pytest.raises(Exception, match="num_candidates"):
        DELRecConfig(num_candidates=1)


def test_save_reload_same_scores_and_layout(tiny_lm_dir, tmp_path):
    from transformers import AutoModel

    model = _model(tiny_lm_dir, with_prompt=True, with_lora=True)
    hist, cands = [[1, 2, 3], [7, 8]], [[10, 11, 12, 13, 14], [20, 21, 22, 23, 24]]
    before = model.score_candidates(hist, cands)
    out = tmp_path / "delrec"
    model.save_pretrained(out)

    assert not (out / "adapter_config.json").exists()  # never at the root
    assert (out / "lora" / "adapter_config.json").is_file()
    assert set(load_file(str(out / "model.safetensors"))) == {"soft_prompt.weight"}  # the LLM is not copied
    assert json.loads((out / "items.json").read_text())["titles"][1] == model.item_titles[1]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "delrec" and cfg["lora_subfolder"] == "lora" and cfg["soft_prompt"]["num_soft_tokens"] == 4

    reloaded = AutoModel.from_pretrained(str(out))
    assert isinstance(reloaded, DELRec) and reloaded.has_lora
    after = reloaded.score_candidates(hist, cands)
    torch.testing.assert_close(after, before)
    # The adapter and the soft prompt both matter: dropping either changes the scores.
    assert not torch.allclose(_model(tiny_lm_dir, with_prompt=True, with_lora=False).score_candidates(hist, cands),
                              before)
    assert torch.equal(reloaded.soft_prompt.weight, model.soft_prompt.weight)


def test_reload_without_prompt_or_lora(tiny_lm_dir, tmp_path):
    from transformers import AutoModel

    model = _model(tiny_lm_dir, with_prompt=False, with_lora=False)
    model.save_pretrained(tmp_path / "zs")
    assert not (tmp_path / "zs" / "model.safetensors").exists() and not (tmp_path / "zs" / "lora").exists()
    reloaded = AutoModel.from_pretrained(str(tmp_path / "zs"))
    assert reloaded.soft_prompt is None and not reloaded.has_lora
    assert "<|delrec_soft_" not in reloaded.format_prompt(["a"], ["b", "c"])
    torch.testing.assert_close(reloaded.score_candidates([[1, 2]], [[3, 4, 5]]),
                               model.score_candidates([[1, 2]], [[3, 4, 5]]))


def test_rank_is_sorted_and_full_title_breaks_first_token_ties(tiny_lm_dir):
    model = _model(tiny_lm_dir)
    # Items 1, 13, 25 share the words "toy story" (same first sub-word) in the synthetic catalogue.
    cands = [[1, 13, 25, 2, 3]]
    ids, scores = model.rank([[5, 6]], cands)
    assert sorted(ids[0].tolist()) == sorted(cands[0])
    assert torch.all(scores[0][:-1] >= scores[0][1:])
    raw = model.score_candidates([[5, 6]], cands)[0]
    assert len(set(raw.tolist())) == 5  # full-title: no ties
    first = _model(tiny_lm_dir, scoring="first_subword").score_candidates([[5, 6]], cands)[0]
    assert first[0] == first[1] == first[2]  # the paper's verbaliser ties titles sharing their first token


def test_prompt_contents(tiny_lm_dir):
    model = _model(tiny_lm_dir)
    prompt = model.format_prompt(["Godfather, The (1972)", "b", "c", "d", "e"], ["x", "y"])
    assert "The Godfather (1972)" not in prompt  # cropped: only the 4 most recent history items are shown
    prompt = model.format_prompt(["Godfather, The (1972)"], ["x", "y"])
    assert "The Godfather (1972)" in prompt and prompt.count("<|delrec_soft_") == 4
    assert model.format_completion("Godfather, The (1972)") == " The Godfather (1972)"


def test_recommend_catalogue_and_errors(tiny_lm_dir):
    model = _model(tiny_lm_dir)
    titles = model.item_titles
    recs = model.recommend([titles[3], 4], k=7)
    assert len(recs) == 7 and len({r[0] for r in recs}) == 7
    assert not {3, 4} & {r[0] for r in recs}  # seen items excluded
    assert all(titles[i] == t for i, t, _ in recs)
    # The final round re-scores the best num_candidates together: its scores come out sorted.
    head = [s for _, _, s in recs[:5]]
    assert head == sorted(head, reverse=True)
    with pytest.raises(KeyError, match="did you mean"):
        model.recommend(["toy story 1 (1991) extended"], k=3)
    with pytest.raises(ValueError, match="outside the catalogue"):
        model.score_candidates([[1]], [[999, 2]])
    only = model.recommend([1], k=3, candidates=[5, 6, 7, 8])
    assert {r[0] for r in only} <= {5, 6, 7, 8} and len(only) == 3


def test_recommend_command(tiny_lm_dir, tmp_path, capsys):
    from hf_delrec.commands import recommend

    model = _model(tiny_lm_dir, with_lora=True)
    model.save_pretrained(tmp_path / "m")
    rc = recommend.main([str(tmp_path / "m"), "--history", model.item_titles[2], "5", "--k", "3"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and len(out) == 4 and out[0].split()[:2] == ["rank", "item"]
    assert recommend.main([str(tmp_path / "m"), "--history", "no such movie (2099)"]) == 2
    assert "not in the catalogue" in capsys.readouterr().err


def test_saved_adapter_names_the_configs_base_not_the_local_copy(tiny_lm_dir, tmp_path):
    """SmolLM2 offline is loaded from a converted local copy: the adapter must still name the Hub id of the config."""
    import shutil

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    copy = tmp_path / "converted-copy"
    shutil.copytree(tiny_lm_dir, copy)
    llm = AutoModelForCausalLM.from_pretrained(str(copy))
    config = DELRecConfig(base_model_name_or_path=str(tiny_lm_dir), num_candidates=5)
    model = DELRec.from_parts(config, llm, AutoTokenizer.from_pretrained(str(copy)),
                              item_titles=make_prepared(num_items=30).titles)
    model.llm = get_peft_model(model.llm, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    assert model.llm.peft_config["default"].base_model_name_or_path == str(copy)  # what PEFT records by itself
    model.save_pretrained(tmp_path / "out")
    adapter = json.loads((tmp_path / "out" / "lora" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_lm_dir)
