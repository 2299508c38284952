"""Registration of the executor with LocalStack's plugin manager (plux)."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

from lambda_admm_localstack import PLUGIN_NAME


class LocalPythonExecutorPlugin(RuntimeExecutorPlugin):
    """Selected with ``LAMBDA_RUNTIME_EXECUTOR=local-python``."""

    name = PLUGIN_NAME

    def load(self, *args: object, **kwargs: object) -> type:
        # Imported lazily, as LocalStack's docker plugin does, so that listing plugins stays cheap.
        from lambda_admm_localstack.executor import LocalPythonRuntimeExecutor

        return LocalPythonRuntimeExecutor
