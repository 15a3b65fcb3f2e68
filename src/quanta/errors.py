"""Exceptions. A :class:`QuantaError` is bad input, not a bug.

The CLI prints it as one line (``error: <message> (<hint>)``) and exits with
status 2. Anything else that escapes is a real bug and keeps its traceback.
"""

from __future__ import annotations


class QuantaError(Exception):
    """Bad input or an impossible request.

    Parameters
    ----------
    message : str
        What is wrong: name the parameter, what is allowed and what was received.
    hint : str, optional
        How to fix it.
    """

    def __init__(self, message: str, hint: str | None = None):
        self.message = str(message)
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message and hint as one line, newlines folded."""
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


def check(condition: bool, message: str, hint: str | None = None) -> None:
    """Raise :class:`QuantaError` with ``message`` and ``hint`` unless ``condition``."""
    if not condition:
        raise QuantaError(message, hint)
