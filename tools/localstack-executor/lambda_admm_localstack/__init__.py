"""A LocalStack Lambda runtime executor that needs no Docker.

LocalStack runs Lambda functions in Docker containers by default. This plugin replaces that
with one long-lived local Python subprocess per execution environment:

- :mod:`.plugin` registers the executor under the entry-point group
  ``localstack.lambda.runtime_executor`` with the name :data:`PLUGIN_NAME`; LocalStack picks
  it with ``LAMBDA_RUNTIME_EXECUTOR=local-python``.
- :mod:`.layout` lays out a function version on disk: its unzipped code (LocalStack's own
  cache), its layers merged into a per-version ``opt/`` dir as Lambda merges them into
  ``/opt``, and a "runtime SDK" dir with boto3 for the emulated runtime.
- :mod:`.executor` implements LocalStack's ``RuntimeExecutor``: it starts the worker, sends
  invocations, enforces the function timeout and attaches the worker's output as logs (which
  LocalStack forwards to CloudWatch Logs).
- :mod:`.endpoint` is LocalStack's executor endpoint (the routes the worker posts its status
  and results to), tightened for a subprocess.
- :mod:`.worker` owns the subprocess and its output file.
- :mod:`.watchdog` stops LocalStack if the process that started it dies.
- :mod:`.event_invoke` makes LocalStack run each ``Event`` invocation once, however long it
  takes, and many at a time, as Lambda does.
- :mod:`.bootstrap` is the program the subprocess runs (under the runtime's Python, stdlib
  only): it imports the handler, serves ``/invoke`` and posts results back to LocalStack.
"""

PLUGIN_NAME = "local-python"
