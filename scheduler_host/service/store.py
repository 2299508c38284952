"""A solve's objects under ``results/<id>/`` of the data bucket, as the host keeps them."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
from pydantic import ValidationError

from runtime.storage import Storage
from scheduler_host.assignments import spec_as_json
from scheduler_host.jobs import SolveStatus, cancel_key, now, results_key, status_key
from scheduler_host.results import SolveResult
from scheduler_host.solve_spec import SolveSpec, describe_validation_error

log = logging.getLogger("lambda_admm.service")


class StatusStore:
    """Status, cancel marker and results of each solve, in ``storage`` (the bucket's root).

    Errors of the storage (:class:`runtime.storage.StorageError`) propagate.
    """

    def __init__(self, *, storage: Storage) -> None:
        self._storage = storage

    def read_status(self, solve_id: str) -> SolveStatus | None:
        """The stored status; None if there is none or it is not a valid status object."""
        try:
            body = self._storage.read_bytes(status_key(solve_id))
        except FileNotFoundError:
            return None
        try:
            return SolveStatus.model_validate_json(body)
        except ValidationError as error:
            detail = describe_validation_error(error)
            log.warning("ignoring the invalid status of solve %s: %s", solve_id, detail)
            return None

    def write_status(self, status: SolveStatus) -> None:
        """Store ``status``, stamped ``updated_at`` now."""
        stamped = status.model_copy(update={"updated_at": now()})
        self._storage.write_bytes(
            status_key(status.solve_id), stamped.to_json().encode(), content_type="application/json"
        )

    def cancel_requested(self, solve_id: str) -> bool:
        """Whether ``DELETE /solves/{id}`` left its marker (``results/<id>/cancel``)."""
        return self._storage.exists(cancel_key(solve_id))

    def write_result(self, solve_id: str, result: SolveResult, spec: SolveSpec) -> dict[str, str]:
        """``x.npy`` and ``result.json``; returns their URIs (``x``, ``result``)."""
        buffer = io.BytesIO()
        np.save(buffer, result.x)
        x_key, result_key = results_key(solve_id, "x.npy"), results_key(solve_id, "result.json")
        self._storage.write_bytes(x_key, buffer.getvalue())
        body = json.dumps({"spec": spec_as_json(spec), **result.to_json_dict()}, indent=2)
        self._storage.write_bytes(result_key, body.encode(), content_type="application/json")
        return {"x": self._storage.uri(x_key), "result": self._storage.uri(result_key)}
