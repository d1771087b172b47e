"""Tiny, download-free language models and tokenizers for unit tests (built locally in well under a second)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

DEFAULT_CORPUS = (
    "the user watched toy story , the godfather , star wars and heat . next the user will watch casino",
    "candidates : jumanji , twelve monkeys , babe , dead man walking , the usual suspects , braveheart",
    "the recommendation pattern of the sasrec model is : choose the next item from the candidate set",
    "products : lipstick , shampoo , face cream , nail polish . games : portal , half life , dota",
    "0 1 2 3 4 5 6 7 8 9 ( ) : , . ' - item movie game product history",
)


def make_tiny_tokenizer(corpus=DEFAULT_CORPUS, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """Byte-level BPE: every string is encodable (no <unk>), so titles never collapse to one token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(corpus) * 5, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


def make_tiny_causal_lm(path: str | Path | None = None, tie_word_embeddings: bool = False, seed: int = 0):
    """A 2-layer Llama (hidden 32) + byte-level tokenizer. Saved to ``path`` when given; returns (model, tokenizer)."""
    import torch

    torch.manual_seed(seed)
    tokenizer = make_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=tie_word_embeddings,
    )
    model = LlamaForCausalLM(config)
    if path is not None:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return model, tokenizer


def make_tiny_t5(path: str | Path | None = None, seed: int = 0):
    """A 2+2-layer T5 (d_model 32) sharing the byte-level tokenizer; returns (model, tokenizer)."""
    import torch

    torch.manual_seed(seed)
    tokenizer = make_tiny_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    model = T5ForConditionalGeneration(config)
    if path is not None:
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return model, tokenizer
