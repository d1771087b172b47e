"""DELRec prompts: domain templates (TA, RPS, recommendation), title normalisation and pure example builders."""

from .builders import PromptExample, build_rec_example, build_rps_example, build_ta_example, render_example
from .templates import (
    BUILTIN_DOMAINS,
    TASKS,
    PromptTemplates,
    TemplateError,
    load_templates,
    render,
    soft_prompt_text,
    template_slots,
    validate_template,
)
from .titles import normalize_title

__all__ = [
    "PromptExample",
    "build_ta_example",
    "build_rps_example",
    "build_rec_example",
    "render_example",
    "PromptTemplates",
    "TemplateError",
    "load_templates",
    "render",
    "soft_prompt_text",
    "template_slots",
    "validate_template",
    "normalize_title",
    "BUILTIN_DOMAINS",
    "TASKS",
]
