"""What a command's exit code says about a solve that ended without converging."""

from __future__ import annotations

from typing import Annotated

import typer

#: A solve that ended without converging (the residual rule or the check at the stop failed).
NOT_CONVERGED_EXIT_CODE = 3

#: The flag that accepts such a solve: exit 0 instead.
AllowUnconverged = Annotated[
    bool,
    typer.Option(help=f"exit 0, not {NOT_CONVERGED_EXIT_CODE}, when the solve is not converged"),
]


def exit_unless_converged(converged: bool, *, allow_unconverged: bool) -> None:
    """Raise ``typer.Exit(3)`` for a solve that is not converged, unless it is allowed."""
    if not converged and not allow_unconverged:
        raise typer.Exit(code=NOT_CONVERGED_EXIT_CODE)
