"""Recipes: dataclass arguments filled from a YAML file plus ``key=value`` command-line overrides (TRL-script style).

    cfgs = parse_recipe((DataArguments, TeacherConfig), ["recipes/sasrec_ml100k.yaml", "learning_rate=1e-3"])

Every key must belong to at least one of the dataclasses (a key that several share is given to all of them). Values
are checked against the field's annotation; an unknown key or a wrong type is a ``RecipeError`` naming the file, the
key and what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml


class RecipeError(ValueError):
    pass


_NONE_STRINGS = {"none", "null", "~"}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert ``value`` for a field annotated ``annotation``; unknown complex annotations pass through."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any or annotation is dataclasses.MISSING:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except RecipeError as exc:
                errors.append(str(exc))
        raise RecipeError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {annotation}")
    if origin is typing.Literal:
        if value not in args:
            raise RecipeError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if value.strip() else []
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        out = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple or annotation is tuple else out
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "yes", "1", "false", "no", "0"}:
            return value.lower() in {"true", "yes", "1"}
        raise RecipeError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise RecipeError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise RecipeError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise RecipeError(f"{where}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise RecipeError(f"{where}: expected a string, got {value!r}")
        return str(value)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        try:
            return annotation(value)
        except ValueError:
            raise RecipeError(f"{where}: {value!r} is not one of {[m.value for m in annotation]}") from None
    return value


def _parse_override(text: str) -> tuple[str, Any]:
    if text.startswith("--"):
        text = text[2:]
    if "=" not in text:
        raise RecipeError(f"override {text!r} is not of the form key=value")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if raw.strip().lower() in _NONE_STRINGS:
        return key, None
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key, raw if value is None else value


def load_recipe(
    dataclass_types: Iterable[type],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
) -> tuple:
    """Build one instance of each dataclass from ``defaults`` < YAML file < ``overrides``."""
    dataclass_types = tuple(dataclass_types)
    values: dict[str, tuple[Any, str]] = {k: (v, "defaults") for k, v in (defaults or {}).items()}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise RecipeError(f"recipe file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise RecipeError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise RecipeError(f"{path}: a recipe must be a mapping of key: value, got {type(loaded).__name__}")
        for key, value in loaded.items():
            values[str(key)] = (value, f"{path}")
    for text in overrides:
        key, value = _parse_override(text)
        values[key] = (value, "command line")

    fields_by_type = {t: {f.name: f for f in dataclasses.fields(t) if f.init} for t in dataclass_types}
    hints_by_type = {t: typing.get_type_hints(t) for t in dataclass_types}
    known = set().union(*[set(f) for f in fields_by_type.values()])
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        origin = values[unknown[0]][1]
        raise RecipeError(
            f"{origin}: unknown key(s) {unknown}; valid keys are: {', '.join(sorted(known))}"
        )
    out = []
    for t in dataclass_types:
        kwargs = {}
        for name, (value, origin) in values.items():
            if name in fields_by_type[t]:
                kwargs[name] = _coerce(value, hints_by_type[t].get(name, Any), f"{origin}: key '{name}'")
        try:
            out.append(t(**kwargs))
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{path or 'recipe'}: invalid value for {t.__name__}: {exc}") from exc
    return tuple(out)


def check_section(
    values: dict[str, Any],
    dataclass_types: Iterable[type],
    section: str,
    origins: dict[str, str] | None = None,
    extra_keys: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check a nested recipe section (e.g. the ``sft:`` mapping of a pipeline recipe) without building the dataclasses.

    Every key must be a field of one of ``dataclass_types`` (or of ``extra_keys``: name -> annotation) and its value
    must fit the annotation; errors name ``section.key``, where it came from (``origins[key]``, default "recipe")
    and what was expected. Returns the coerced values.
    """
    if not isinstance(values, dict):
        raise RecipeError(f"section {section!r}: expected a mapping of key: value, got {values!r}")
    origins = origins or {}
    hints: dict[str, Any] = dict(extra_keys or {})
    for t in dataclass_types:
        type_hints = typing.get_type_hints(t)
        for f in dataclasses.fields(t):
            if f.init:
                hints.setdefault(f.name, type_hints.get(f.name, Any))
    out = {}
    for key, value in values.items():
        where = origins.get(key, "recipe")
        if key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise RecipeError(f"{where}: unknown key '{section}.{key}'{hint} (section {section!r} takes the keys of "
                              f"{', '.join(t.__name__ for t in dataclass_types) or 'this stage'})")
        out[key] = _coerce(value, hints[key], f"{where}: key '{section}.{key}'")
    return out


def parse_recipe(dataclass_types: Iterable[type], argv: Sequence[str]) -> tuple:
    """``argv`` = ``[RECIPE.yaml] [key=value ...]`` as given on the command line."""
    argv = list(argv)
    path = None
    if argv and "=" not in argv[0] and not argv[0].startswith("--"):
        path = argv.pop(0)
    return load_recipe(dataclass_types, path, argv)


def recipe_to_dict(*instances: Any) -> dict[str, Any]:
    """Flatten dataclass instances back to one JSON-able mapping (for provenance files and model cards)."""
    out: dict[str, Any] = {}
    for inst in instances:
        for f in dataclasses.fields(inst):
            v = getattr(inst, f.name)
            if isinstance(v, enum.Enum):
                v = v.value
            if f.name.endswith("hub_token") and v is not None:
                v = f"<{f.name.upper()}>"  # provenance files are pushed with the model: never write a credential
            if isinstance(v, (str, int, float, bool, type(None), list, tuple, dict)):
                out[f.name] = list(v) if isinstance(v, tuple) else v
    return out
