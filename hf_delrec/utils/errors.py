"""Errors for bad input given to models and pipelines (the data layer has its own hierarchy in ``data/errors.py``).

Lowest layer: anything may import this module; it imports nothing from the package.
"""

from __future__ import annotations


class ModelInputError(ValueError):
    """Bad input to a model's inference surface: empty history, duplicate or empty candidate list, bad ``k``,
    artifact that does not fit the model it is loaded with. The message names the argument, the offending value and
    what was expected."""


class UnknownItemError(ModelInputError, KeyError):
    """An item (id or title) that is not in the model's catalogue. Also a ``KeyError`` (title look-ups raised
    ``KeyError`` before this class existed)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


__all__ = ["ModelInputError", "UnknownItemError"]
