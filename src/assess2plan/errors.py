"""Errors raised for bad input. Every message names file, row, column and value where known."""

from __future__ import annotations


class A2PError(Exception):
    """Base class of every error assess2plan reports to users (never shown as a traceback)."""


class InputError(A2PError):
    """Input that cannot be imported: nothing is written when this is raised.

    ``row`` is the 1-based data row (the header line is row 0), as a spreadsheet user counts
    rows below the header; ``line`` may add the physical line number in the file when a quoted
    field spans several lines.
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: object | None = None,
        line: int | None = None,
    ) -> None:
        self.file = str(file)
        self.line = line
        self.row = row
        self.column = column
        self.value = value
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.line is not None:
            where += f", line {self.line}"
        if self.column:
            where += f", column {self.column!r}"
        if self.value is not None:
            v = str(self.value)
            if len(v) > 80:
                v = v[:77] + "..."
            where += f", value {v!r}"
        return f"{where}: {self.message}"


class StoreError(A2PError):
    """A problem with the store (database) that is not bad input."""


class ApiError(A2PError):
    """The Red List API refused or failed a request (the message names the URL, never the token)."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        self.status = status
        self.url = url
        super().__init__(message)
