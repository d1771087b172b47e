"""One exception hierarchy for the data layer.

Every error raised for bad input names where the problem is: the file and line (or row, for Parquet), or the
option/field that is wrong, so a user can fix the input without reading the code.
"""

from __future__ import annotations

import os


class DataError(ValueError):
    """Base class of every data-layer error."""


class DataFormatError(DataError):
    """A source file is malformed: ``file``, ``line`` (1-based, text files) or ``row`` (0-based, columnar files)
    and ``field`` say where."""

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike | None = None,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
    ):
        self.file = str(file) if file is not None else None
        self.line = line
        self.row = row
        self.field = field
        where = []
        if self.file is not None:
            loc = self.file
            if line is not None:
                loc += f", line {line}"
            elif row is not None:
                loc += f", row {row}"
            where.append(loc)
        if field is not None:
            where.append(f"field {field!r}")
        self.message = message
        super().__init__(f"{': '.join(where)}: {message}" if where else message)


class DataConfigError(DataError):
    """An option is invalid for this data (e.g. more candidates than items); ``field`` names the option."""

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        self.message = message
        super().__init__(f"option {field!r}: {message}" if field else message)


class DataSourceNotFoundError(DataError, FileNotFoundError):
    """The source files are absent (and could not be downloaded); the message says where to get and put them."""

    def __init__(self, message: str):
        self.message = message
        ValueError.__init__(self, message)

    def __str__(self) -> str:
        return self.message
