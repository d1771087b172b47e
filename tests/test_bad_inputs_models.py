"""Bad input on the model surface (issue #8): teachers, DELRec, scoring, soft prompts, LoRA adapters, LLM-SRec.

Each test feeds one distinct bad input and checks that the error names what is wrong (argument, offending value,
what was expected, and the file where there is one). Tiny local models only; nothing is downloaded.
"""

import json
import shutil

import pytest
import torch

import hf_delrec  # noqa: F401
from delrec_synthetic import make_prepared
from hf_delrec.models.delrec import DELRec, DELRecConfig
from hf_delrec.models.sasrec import SASRecConfig, SASRecModel
from hf_delrec.models.soft_prompt import SoftPrompt, SoftPromptConfig
from hf_delrec.prompts.templates import TemplateError, load_templates
from hf_delrec.scoring import encode_scoring_example
from hf_delrec.utils.errors import ModelInputError, UnknownItemError
from tiny_models import make_tiny_causal_lm, make_tiny_tokenizer

NUM_ITEMS = 30


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad_models") / "lm"
    make_tiny_causal_lm(path, tie_word_embeddings=True)
    return path


def _llm(lm_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(str(lm_dir)), AutoTokenizer.from_pretrained(str(lm_dir))


@pytest.fixture(scope="module")
def titles():
    return make_prepared(num_items=NUM_ITEMS).titles


@pytest.fixture(scope="module")
def delrec(lm_dir, titles):
    llm, tok = _llm(lm_dir)
    torch.manual_seed(0)
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=4)
    config = DELRecConfig(base_model_name_or_path=str(lm_dir), num_candidates=5, max_history_items=4)
    return DELRec.from_parts(config, llm, tok, soft_prompt=prompt, item_titles=titles).eval()


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    config = SASRecConfig(num_items=NUM_ITEMS, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                          intermediate_size=32)
    return SASRecModel(config).eval()


@pytest.fixture(scope="module")
def saved_delrec(lm_dir, titles, tmp_path_factory):
    """A saved DELRec (soft prompt + LoRA) to corrupt copies of."""
    from peft import LoraConfig, get_peft_model

    llm, tok = _llm(lm_dir)
    prompt = SoftPrompt.for_llm(llm, num_soft_tokens=4)
    model = DELRec.from_parts(DELRecConfig(base_model_name_or_path=str(lm_dir), num_candidates=5), llm, tok,
                              soft_prompt=prompt, item_titles=titles)
    model.llm = get_peft_model(model.llm, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    path = tmp_path_factory.mktemp("saved") / "delrec"
    model.save_pretrained(path)
    return path


def _copy(src, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------------------------------- teachers


def test_teacher_recommend_empty_history(teacher):
    with pytest.raises(ModelInputError, match=r"history 1 is empty.*at least one past item"):
        teacher.recommend([[1, 2], []], k=3)


def test_teacher_recommend_padding_id_inside_history(teacher):
    # 0 is padding: inside a history it would silently shorten it.
    with pytest.raises(UnknownItemError, match=r"history 0 contains item id 0.*1\.\.30.*0 is padding"):
        teacher.recommend([[4, 0, 5]], k=3)


def test_teacher_recommend_flat_history_list(teacher):
    with pytest.raises(ModelInputError, match=r"list of item-id lists"):
        teacher.recommend([4, 5, 6], k=3)


def test_teacher_recommend_k_larger_than_catalogue(teacher):
    with pytest.raises(ModelInputError, match=r"k must be an integer in 1\.\.30, got 31"):
        teacher.recommend([[1, 2]], k=31)


def test_teacher_score_candidates_duplicates(teacher):
    with pytest.raises(ModelInputError, match=r"candidate_ids row 1 lists item 7 more than once"):
        teacher.score_candidates(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[5, 6, 7], [7, 8, 7]]))


# ------------------------------------------------------------------------------------------- DELRec.rank


def test_delrec_rank_duplicate_candidate_ids(delrec):
    with pytest.raises(ModelInputError, match=r"candidate list 0 names 5 more than once"):
        delrec.rank([[1, 2]], [[5, 5, 6]])


def test_delrec_rank_same_item_as_id_and_title(delrec, titles):
    with pytest.raises(ModelInputError, match=r"candidate list 0 names .*more than once"):
        delrec.rank([[1, 2]], [[7, titles[7], 8]])


def test_delrec_rank_unknown_history_title(delrec):
    with pytest.raises(UnknownItemError, match=r"history 0: title 'Not A Movie' is not in the catalogue \(30 items\)"):
        delrec.rank([["Not A Movie"]], [[5, 6]])


def test_delrec_rank_unknown_candidate_title_suggests(delrec, titles):
    typo = titles[3].replace("(", "").upper() + "x"
    with pytest.raises(UnknownItemError, match=r"candidates 0: title .* is not in the catalogue") as err:
        delrec.rank([[1]], [[titles[2], typo]])
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)


def test_delrec_rank_empty_history(delrec):
    with pytest.raises(ModelInputError, match=r"history 1 is empty"):
        delrec.rank([[1], []], [[5, 6], [7, 8]])


def test_delrec_rank_empty_candidate_list(delrec):
    with pytest.raises(ModelInputError, match=r"candidate list 0 is empty"):
        delrec.rank([[1]], [[]])


def test_delrec_rank_ragged_candidate_ids(delrec):
    with pytest.raises(ModelInputError, match=r"different lengths \[2, 3\]"):
        delrec.rank([[1], [2]], [[5, 6, 7], [8, 9]])


def test_delrec_rank_more_histories_than_candidate_lists(delrec):
    with pytest.raises(ModelInputError, match=r"2 histories but 1 candidate lists"):
        delrec.rank([[1], [2]], [[5, 6]])


# ------------------------------------------------------------------------------------------- DELRec.recommend


def test_delrec_recommend_empty_history(delrec):
    with pytest.raises(ModelInputError, match=r"history is empty"):
        delrec.recommend([], k=3)


def test_delrec_recommend_k_zero(delrec):
    # Used to return [] silently.
    with pytest.raises(ModelInputError, match=r"k must be an integer in 1\.\.30 \(the catalogue size\), got 0"):
        delrec.recommend([1], k=0)


def test_delrec_recommend_duplicate_candidates(delrec):
    with pytest.raises(ModelInputError, match=r"item\(s\) \[5\] more than once"):
        delrec.recommend([1], k=2, candidates=[5, 6, 5])


def test_delrec_recommend_candidate_outside_catalogue(delrec):
    with pytest.raises(UnknownItemError, match=r"candidates: item id 999 is outside the catalogue 1\.\.30"):
        delrec.recommend([1], k=2, candidates=[5, 999])


def test_delrec_recommend_unknown_history_title(delrec):
    with pytest.raises(KeyError, match=r"history: title 'Not A Movie' is not in the catalogue"):
        delrec.recommend(["Not A Movie"], k=3)


# ------------------------------------------------------------------------------------------- scoring


def test_scoring_duplicate_candidate_texts():
    tok = make_tiny_tokenizer()
    with pytest.raises(ValueError, match=r"user 7: candidate 2 \(' heat'\) repeats candidate 0"):
        encode_scoring_example(tok, "prompt", [" heat", " babe", " heat"], where="user 7")


def test_scoring_empty_candidate_list():
    tok = make_tiny_tokenizer()
    with pytest.raises(ValueError, match=r"user 3: the candidate list is empty"):
        encode_scoring_example(tok, "prompt", [], where="user 3")


# ------------------------------------------------------------------------------------------- soft prompts, templates


def test_soft_prompt_for_another_llm_width(lm_dir, titles):
    llm, tok = _llm(lm_dir)
    other = SoftPrompt(SoftPromptConfig(num_soft_tokens=3, hidden_size=16, base_model_name_or_path="org/llm-16"))
    with pytest.raises(ModelInputError, match=r"soft prompt hidden size 16 does not match the LLM .*width 32.*org/llm-16"):
        DELRec.from_parts(DELRecConfig(base_model_name_or_path=str(lm_dir)), llm, tok, soft_prompt=other,
                          item_titles=titles)


def test_saved_soft_prompt_tensor_shape_differs_from_config(saved_delrec, tmp_path):
    from safetensors.torch import save_file

    path = _copy(saved_delrec, tmp_path)
    save_file({"soft_prompt.weight": torch.zeros(3, 16)}, str(path / "model.safetensors"))
    with pytest.raises(ModelInputError, match=r"model.safetensors: tensor 'soft_prompt.weight' has shape \(3, 16\).*\(4, 32\)"):
        DELRec.from_pretrained(path)


def test_corrupt_model_safetensors(saved_delrec, tmp_path):
    path = _copy(saved_delrec, tmp_path)
    (path / "model.safetensors").write_bytes(b"\x00garbage, not safetensors")
    with pytest.raises(ModelInputError, match=r"model.safetensors: not a readable safetensors file"):
        DELRec.from_pretrained(path)


def test_corrupt_items_json(saved_delrec, tmp_path):
    path = _copy(saved_delrec, tmp_path)
    (path / "items.json").write_text('{"titles": ["", "a"', encoding="utf-8")
    with pytest.raises(ModelInputError, match=r"items.json: expected JSON"):
        DELRec.from_pretrained(path)


def test_delrec_from_pretrained_on_another_model_type(lm_dir):
    with pytest.raises(ModelInputError, match=r"config.json: model_type is 'llama', expected 'delrec'"):
        DELRec.from_pretrained(lm_dir)


def test_lora_adapter_for_another_base_model(saved_delrec, tmp_path, titles):
    """The lora/ folder of a DELRec built on a wider LLM (hidden 48) under a model whose base has hidden 32."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = make_tiny_tokenizer()
    wide = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True))
    wide_dir = tmp_path / "lm48"
    wide.save_pretrained(wide_dir)
    tok.save_pretrained(wide_dir)
    wide, tok = _llm(wide_dir)  # loaded from its directory, so the adapter records it as its base
    other = DELRec.from_parts(DELRecConfig(base_model_name_or_path=str(wide_dir), num_candidates=5), wide, tok,
                              item_titles=titles)
    other.llm = get_peft_model(other.llm, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    other.save_pretrained(tmp_path / "other")
    path = _copy(saved_delrec, tmp_path)
    shutil.rmtree(path / "lora")
    shutil.copytree(tmp_path / "other" / "lora", path / "lora")
    with pytest.raises(ModelInputError) as err:
        DELRec.from_pretrained(path)
    message = str(err.value)
    assert "does not fit the base model" in message and "lm48" in message  # names the adapter's own base
    assert "size mismatch" in message and "[2, 48]" in message


def test_stored_template_without_soft_prompt_slot(lm_dir, titles):
    llm, tok = _llm(lm_dir)
    config = DELRecConfig(base_model_name_or_path=str(lm_dir), template="History: {history}. Pick: {candidates}.")
    with pytest.raises(TemplateError, match=r"DELRecConfig.template: field 'rec' is missing slot\(s\) \['soft_prompt'\]"):
        DELRec.from_parts(config, llm, tok, item_titles=titles)


def test_user_template_file_with_bad_json(tmp_path):
    path = tmp_path / "my_templates.json"
    path.write_text('{\n  "ta": "x {soft_prompt}",\n  "rps": oops\n}\n', encoding="utf-8")
    with pytest.raises(TemplateError, match=r"my_templates.json: cannot parse: .*line 3"):
        load_templates(path)


# ------------------------------------------------------------------------------------------- LLM-SRec


@pytest.fixture(scope="module")
def llmsrec_parts(lm_dir, titles):
    from hf_delrec.models.llmsrec import LLMSRecConfig, LLMSRecModel, LLMSRecPromptBuilder

    llm, tok = _llm(lm_dir)
    torch.manual_seed(0)
    teacher = SASRecModel(SASRecConfig(num_items=NUM_ITEMS, hidden_size=16, max_seq_length=8, num_attention_heads=2,
                                       intermediate_size=32))
    config = LLMSRecConfig(llm_hidden_size=32, teacher_hidden_size=16, num_items=NUM_ITEMS, projection_dim=8,
                           head_hidden_size=16, cf_hidden_size=8, max_history_items=3)
    model = LLMSRecModel(config).attach(llm=llm, tokenizer=tok, teacher=teacher)
    return model, LLMSRecPromptBuilder(tok, titles, config), llm, tok


def test_llmsrec_user_vectors_with_an_empty_history(llmsrec_parts):
    model, prompts, _, _ = llmsrec_parts
    with pytest.raises(ValueError, match=r"history #1 is empty: LLM-SRec needs at least one past item"):
        model.compute_user_vectors(prompts, [[1, 2], []])


def test_llmsrec_teacher_hidden_size_mismatch(llmsrec_parts):
    from hf_delrec.models.llmsrec import LLMSRecConfig, LLMSRecModel

    _, _, llm, tok = llmsrec_parts
    narrow = SASRecModel(SASRecConfig(num_items=NUM_ITEMS, hidden_size=8, max_seq_length=8, num_attention_heads=2,
                                      intermediate_size=16))
    config = LLMSRecConfig(llm_hidden_size=32, teacher_hidden_size=16, num_items=NUM_ITEMS, projection_dim=8,
                           head_hidden_size=16, cf_hidden_size=8)
    with pytest.raises(ValueError, match=r"teacher item table has shape \(31, 8\), expected .*\(31, 16\)"):
        LLMSRecModel(config).attach(llm=llm, tokenizer=tok, teacher=narrow)


def test_llmsrec_script_llm_dtype():
    from hf_delrec.trainers.llmsrec_config import LLMSRecScriptArguments

    # Used to be a KeyError in the dtype table after the data and the teacher were loaded.
    with pytest.raises(ValueError, match=r"llm_dtype must be float32, bfloat16 or float16, got 'float64'"):
        LLMSRecScriptArguments(data_dir="d", teacher="t", llm_dtype="float64")


def test_backbone_dtype_that_is_not_floating_point():
    from hf_delrec.backbones import BackboneError, resolve_dtype

    with pytest.raises(BackboneError, match=r"unknown dtype 'int8'"):
        resolve_dtype("int8")
