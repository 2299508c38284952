"""The deployment's knobs: CDK context (``cdk.json`` defaults, ``-c key=value`` overrides).

The context is parsed once, in ``app.py``, into a frozen :class:`DeploymentConfig`; constructs
receive typed values and never read the context themselves.  Values given with ``-c`` arrive as
strings, so integers are parsed leniently ("1769" is fine) but must be in range.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

#: What each key accepts, for error messages (``-c worker_memory_mb=99`` -> names the range).
CONTEXT_HINTS: dict[str, str] = {
    "worker_architecture": "x86_64 or arm64",
    "worker_memory_mb": "an integer number of MB in 128..10240",
    "worker_timeout_seconds": "an integer number of seconds in 1..900",
    "worker_reserved_concurrency": "empty (no reservation) or an integer in 1..100000",
    "scheduler_instance_type": "an EC2 instance type such as c7i.large",
    "zmq_front_port": "a TCP port in 1024..65535, different from zmq_broadcast_port",
    "zmq_broadcast_port": "a TCP port in 1024..65535, different from zmq_front_port",
    "auto_delete_objects": "true or false",
    "restrict_default_security_group": "true or false",
}

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


class ConfigError(ValueError):
    """Invalid CDK context; the message names each ``-c`` key, its value and what it accepts."""


class DeploymentConfig(BaseModel):
    """Validated deployment parameters (see ``cdk.json`` for the defaults)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    worker_architecture: Literal["x86_64", "arm64"] = "x86_64"
    worker_memory_mb: int = Field(default=1769, ge=128, le=10240)
    worker_timeout_seconds: int = Field(default=900, ge=1, le=900)
    worker_reserved_concurrency: int | None = Field(default=None, ge=1, le=100_000)
    scheduler_instance_type: str = "c7i.large"
    zmq_front_port: int = Field(default=5555, ge=1024, le=65535)
    zmq_broadcast_port: int = Field(default=5556, ge=1024, le=65535)
    #: Both deploy a Node.js Lambda-backed custom resource; LocalStack's tests turn them off
    #: (``-c auto_delete_objects=false -c restrict_default_security_group=false``) because the
    #: local Lambda executor runs Python only.  Keep them on in real accounts.
    auto_delete_objects: bool = True
    restrict_default_security_group: bool = True

    @field_validator("scheduler_instance_type")
    @classmethod
    def _instance_type_shape(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError("not an instance type")
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> DeploymentConfig:
        if self.zmq_front_port == self.zmq_broadcast_port:
            raise ValueError("zmq_broadcast_port: must differ from zmq_front_port")
        return self

    @classmethod
    def from_context(cls, try_get_context: Callable[[str], Any]) -> DeploymentConfig:
        """Read every known key with ``try_get_context`` (e.g. ``app.node.try_get_context``).

        Raises
        ------
        ConfigError
            One line per bad key: ``-c worker_memory_mb='99': ... (expected ...)``.
        """
        raw = {name: try_get_context(name) for name in cls.model_fields}
        # Absent keys and `-c key=` (empty string) fall back to the defaults.
        given = {name: value for name, value in raw.items() if value not in (None, "")}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise ConfigError(_describe(error, given)) from None

    @property
    def is_arm64(self) -> bool:
        return self.worker_architecture == "arm64"


def _describe(error: ValidationError, given: dict[str, Any]) -> str:
    lines = []
    for problem in error.errors():
        message = problem["msg"].removeprefix("Value error, ")
        key = str(problem["loc"][0]) if problem["loc"] else message.partition(":")[0]
        message = message.removeprefix(f"{key}: ")
        hint = CONTEXT_HINTS.get(key, "")
        lines.append(f"-c {key}={given.get(key)!r}: {message} (expected {hint})")
    return "invalid CDK context:\n  " + "\n  ".join(lines)
