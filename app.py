#!/usr/bin/env python3
"""CDK app: ``npx cdk synth`` (``make synth``) runs this with ``cdk.json``'s context.

The context is parsed once into :class:`stacks.config.DeploymentConfig`; a bad ``-c`` value stops
the synth with a message naming the key.  cdk-nag's AWS Solutions checks run as a validation
plugin on every synth: an unacknowledged finding fails it.
"""

from __future__ import annotations

import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, DeploymentConfig
from stacks.lambda_admm_stack import LambdaAdmmStack

STACK_NAME = "LambdaAdmm"


def build_app(app: App) -> LambdaAdmmStack:
    """Add the stack and the cdk-nag checks to ``app`` (also used by the tests)."""
    config = DeploymentConfig.from_context(app.node.try_get_context)
    stack = LambdaAdmmStack(
        app, STACK_NAME, config=config, description="lambda-admm: consensus ADMM on Lambda"
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stack


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
