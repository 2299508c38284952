"""One voice for every error the command line reports: ``error: --flag: what is wrong``.

A usage error (a bad flag, a bad data file, a refused ``--out``) and a failure after the
start (a solve that failed, a result written elsewhere) come out the same way, as one line
on stderr, ``error: `` then the flag or argument to blame, if any, then what is wrong and,
where it helps, ``(allowed: ...)``. Usage errors exit 2, other failures 1 (or the code
they carry). typer's own errors (an unknown option, an integer that is not one) are
rephrased into that voice by :func:`error_line`; a traceback is shown only with
``--verbose``.
"""

from __future__ import annotations

import difflib
from typing import Any

import typer


class CommandFailed(typer.TyperException):
    """A failure after the command started (not a usage error); ``flag`` is whom to blame."""

    def __init__(self, message: str, *, flag: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.flag = flag
        self.exit_code = exit_code


def _sentence(text: str) -> str:
    """click's capitalized sentence as a clause: ``Missing option.`` -> ``missing option``."""
    text = text.strip().removesuffix(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def _hint_of(error: Any) -> str | None:
    """The flag or argument a parameter error names, without click's quotes."""
    hint = error.param_hint
    if hint is None and error.param is not None:
        hint = error.param.get_error_hint().replace("'", "")
        if error.param.param_type_name == "argument":
            hint = hint.upper()  # as the usage line shows it
    if hint is None or isinstance(hint, str):
        return hint
    return " / ".join(hint)


def error_line(error: typer.TyperException) -> str:
    """The one line reporting ``error``: ``error: [FLAG: ]what is wrong[ (allowed: ...)]``.

    typer's usage errors are told apart by what they carry (its exception classes other
    than ``BadParameter`` are not public): an unknown option its ``option_name``, a missing
    parameter its ``param_type``.
    """
    flag: str | None = None
    if isinstance(error, CommandFailed):
        flag, what = error.flag, error.message
    elif hasattr(error, "option_name") and hasattr(error, "possibilities"):
        flag, what = error.option_name, "no such option"
        candidates = error.possibilities or []
        close = difflib.get_close_matches(error.option_name, candidates, cutoff=0.8)
        if close:
            what += f" (did you mean {' or '.join(close)}?)"
    elif isinstance(error, typer.BadParameter) and hasattr(error, "param_type"):
        flag, what = _hint_of(error), "required"
    elif isinstance(error, typer.BadParameter):
        flag, what = _hint_of(error), error.message.strip().removesuffix(".")
    else:
        what = _sentence(error.message)
    return f"error: {flag}: {what}" if flag else f"error: {what}"
