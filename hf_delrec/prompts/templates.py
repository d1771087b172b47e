"""DELRec prompt templates: one JSON (or YAML) file per domain with the three prompts and their slots.

A template file is a mapping with keys ``ta`` (Temporal Analysis), ``rps`` (Recommendation Pattern Simulating) and
``rec`` (the stage-2 recommendation prompt), each a ``str.format`` string, plus optional ``item_separator`` (", "),
``answer_prefix`` (" ", put before a candidate title when it is scored as the answer) and ``domain``/``description``.
Built-in files: ``movies``, ``products``, ``games`` (``hf_delrec/prompts/templates/*.json``). Users pass the path of
their own file with the same keys instead of a domain name.

Slots (``{name}``; every template must contain ``{soft_prompt}`` exactly once, placed *inside* the text as in the
paper, right after the instruction sentence):

    ta:  teacher, soft_prompt, candidates, demo_history, demo_last, demo_next, history, next
    rps: teacher, soft_prompt, candidates, history, teacher_rest
    rec: teacher (optional), soft_prompt, candidates, history

Every template ends where the answer starts: the candidate title (with ``answer_prefix``) is what gets scored.
"""

from __future__ import annotations

import dataclasses
import json
import string
from importlib import resources
from pathlib import Path

import yaml

TASKS = ("ta", "rps", "rec")
REQUIRED_SLOTS = {
    "ta": {"teacher", "soft_prompt", "candidates", "demo_history", "demo_last", "demo_next", "history", "next"},
    "rps": {"teacher", "soft_prompt", "candidates", "history", "teacher_rest"},
    "rec": {"soft_prompt", "candidates", "history"},
}
OPTIONAL_SLOTS = {"ta": set(), "rps": set(), "rec": {"teacher"}}
BUILTIN_DOMAINS = ("movies", "products", "games")


class TemplateError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class PromptTemplates:
    ta: str
    rps: str
    rec: str
    domain: str = "custom"
    item_separator: str = ", "
    answer_prefix: str = " "
    description: str = ""
    source: str = "<memory>"

    def __post_init__(self):
        for task in TASKS:
            validate_template(getattr(self, task), task, self.source)

    def get(self, task: str) -> str:
        if task not in TASKS:
            raise TemplateError(f"unknown task {task!r}; choose one of {TASKS}")
        return getattr(self, task)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d


def template_slots(template: str) -> list[str]:
    """Names of the ``{slot}`` fields in ``template`` (in order, with repeats)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise TemplateError(f"malformed template (unbalanced braces?): {exc}") from None


def validate_template(template: str, task: str, source: str = "<memory>") -> None:
    if not isinstance(template, str) or not template.strip():
        raise TemplateError(f"{source}: field '{task}' must be a non-empty string")
    try:
        slots = template_slots(template)
    except TemplateError as exc:
        raise TemplateError(f"{source}: field '{task}': {exc}") from None
    allowed = REQUIRED_SLOTS[task] | OPTIONAL_SLOTS[task]
    unknown = sorted({s for s in slots if s not in allowed})
    if unknown:
        raise TemplateError(f"{source}: field '{task}' has unknown slot(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(REQUIRED_SLOTS[task] - set(slots))
    if missing:
        raise TemplateError(f"{source}: field '{task}' is missing slot(s) {missing}")
    if slots.count("soft_prompt") != 1:
        raise TemplateError(f"{source}: field '{task}' must contain {{soft_prompt}} exactly once")


def load_templates(domain_or_path: str | Path) -> PromptTemplates:
    """Built-in templates by domain name ("movies", "products", "games") or a user's JSON/YAML file."""
    text_source = str(domain_or_path)
    if text_source in BUILTIN_DOMAINS:
        text = resources.files(__package__).joinpath("templates", f"{text_source}.json").read_text(encoding="utf-8")
        source = f"built-in templates '{text_source}'"
    else:
        path = Path(domain_or_path)
        if not path.is_file():
            raise TemplateError(
                f"prompt templates {text_source!r}: not a built-in domain {list(BUILTIN_DOMAINS)} and no such file"
            )
        text = path.read_text(encoding="utf-8")
        source = str(path)
    try:
        data = json.loads(text) if source.endswith(".json") or source.startswith("built-in") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TemplateError(f"{source}: cannot parse: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: expected a mapping with keys {list(TASKS)}")
    known = {f.name for f in dataclasses.fields(PromptTemplates)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TemplateError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    missing = [t for t in TASKS if t not in data]
    if missing:
        raise TemplateError(f"{source}: missing key(s) {missing}")
    return PromptTemplates(**data, source=source)


def soft_prompt_text(soft_tokens: list[str]) -> str:
    """The text that fills ``{soft_prompt}``: the K placeholder tokens, concatenated."""
    return "".join(soft_tokens)


def render(template: str, **slots: str) -> str:
    """Fill a template; the values are inserted verbatim (braces inside titles are safe)."""
    try:
        return template.format_map(slots)
    except KeyError as exc:
        raise TemplateError(f"no value for slot {exc} of the template") from None


__all__ = [
    "PromptTemplates",
    "TemplateError",
    "load_templates",
    "validate_template",
    "template_slots",
    "soft_prompt_text",
    "render",
    "TASKS",
    "BUILTIN_DOMAINS",
]
