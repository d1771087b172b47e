"""The soft prompt as a ``PreTrainedModel``: a (K, H) tensor saved/pushed as ``model.safetensors`` + ``config.json``.

It is attached to an LLM with ``hf_delrec.injection.attach_soft_prompt(llm, soft_prompt, tokenizer=tok)``, which
installs a ``SoftPromptEmbedding`` so that every placeholder token ``config.soft_tokens[j]`` in the input is embedded
as ``weight[j]``, wherever the template puts it.
"""

# No `from __future__ import annotations`: PreTrainedModel reads the `config:` annotation as a class.
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .configuration_soft_prompt import SoftPromptConfig


class SoftPrompt(PreTrainedModel):
    config: SoftPromptConfig
    base_model_prefix = "soft_prompt"
    main_input_name = "indices"
    _no_split_modules: list[str] = []

    def __init__(self, config: SoftPromptConfig):
        super().__init__(config)
        self.weight = nn.Parameter(torch.empty(config.num_soft_tokens, config.hidden_size))
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        # Random init for both modes; init="text" is applied afterwards from the LLM's embeddings.
        if module is self:
            init.normal_(self.weight, mean=0.0, std=self.config.init_std)

    def forward(self, indices: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of the soft prompt (all K rows when ``indices`` is None)."""
        return self.weight if indices is None else self.weight[indices]

    @torch.no_grad()
    def init_from_embeddings(self, embedding: nn.Module, token_ids: list[int]) -> None:
        """Copy the LLM's embeddings of ``token_ids`` (tiled to K rows) into the prompt (init="text")."""
        if not token_ids:
            raise ValueError("init_from_embeddings: the init text tokenised to no tokens")
        ids = torch.as_tensor(token_ids, dtype=torch.long, device=embedding.weight.device)
        reps = -(-self.config.num_soft_tokens // len(token_ids))
        rows = embedding(ids.repeat(reps)[: self.config.num_soft_tokens])
        self.weight.copy_(rows.to(self.weight.dtype).to(self.weight.device))

    @classmethod
    def for_llm(cls, llm: nn.Module, tokenizer=None, **config_kwargs) -> "SoftPrompt":
        """Build a prompt sized for ``llm`` (hidden size read from its input embedding); init="text" needs the
        tokenizer. Extra keyword arguments go to ``SoftPromptConfig``."""
        emb = llm.get_input_embeddings()
        base = getattr(emb, "base", emb)
        config_kwargs.setdefault("hidden_size", int(base.weight.shape[-1]))
        name = getattr(llm.config, "_name_or_path", None) or getattr(llm, "name_or_path", None)
        if name:
            config_kwargs.setdefault("base_model_name_or_path", str(name))
        config = SoftPromptConfig(**config_kwargs)
        prompt = cls(config)
        if config.init == "text":
            if tokenizer is None:
                raise ValueError("init='text' needs the LLM's tokenizer")
            ids = tokenizer(config.init_text, add_special_tokens=False)["input_ids"]
            prompt.init_from_embeddings(base, ids)
        return prompt


__all__ = ["SoftPrompt"]
