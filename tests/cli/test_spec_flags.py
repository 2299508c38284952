"""The spec flags take their defaults (and the local solver's help) from SolveSpec."""

from __future__ import annotations

import inspect

from scheduler_host.cli.spec_flags import NOT_THE_MODEL_DEFAULT, spec_flags, spec_from_flags
from scheduler_host.solve_spec import LOCAL_SOLVER_FIELDS, SolveSpec

_PARAMETERS = inspect.signature(spec_flags, eval_str=True).parameters


def test_every_spec_flag_defaults_to_the_models_default() -> None:
    model_flags = [name for name in _PARAMETERS if name in SolveSpec.model_fields]
    # Flags that build a field rather than being one: --data and --zero-based (shards), --box
    # (box_lower, box_upper), --group-lasso and --group-size (a tagged penalty).
    assert set(_PARAMETERS) - set(model_flags) == {
        "data",
        "zero_based",
        "box",
        "group_lasso",
        "group_size",
    }
    for name in model_flags:
        if name in NOT_THE_MODEL_DEFAULT:
            continue
        assert _PARAMETERS[name].default == SolveSpec.model_fields[name].default, name
    assert _PARAMETERS["problem"].default is None  # unset: --data or --shards decide
    assert _PARAMETERS["l1"].default is None  # unset: the model's, or 0 with --group-lasso
    assert _PARAMETERS["features"].default is None  # unset: the model's, or --data's
    assert _PARAMETERS["box"].default is None and SolveSpec().box_lower is None


def test_no_flags_give_the_default_spec() -> None:
    flags = {name: parameter.default for name, parameter in _PARAMETERS.items()}
    assert spec_from_flags(flags) == SolveSpec()


def test_the_local_solver_flags_are_explained_by_their_fields() -> None:
    for flat in LOCAL_SOLVER_FIELDS:
        option = _PARAMETERS[flat].annotation.__metadata__[0]
        assert option.help == SolveSpec.model_fields[flat].description, flat
