"""The handler of the plugin tests (zipped as ``app.py``; never imported by pytest).

``dispatch`` runs the action named by ``event["action"]``. ``somepkg`` comes from the test's
layers and ``boto3`` from the runtime SDK dir, as on Lambda.
"""

import json
import os
import sys
import time

import boto3
import somepkg
from somepkg import flavor

print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])


def dispatch(event, context):
    return ACTIONS[event["action"]](event, context)


def compute(event, context):
    return {
        "doubled": somepkg.double(event["x"]),
        "flavor": flavor.NAME,
        "python": list(sys.version_info[:2]),
        "path": sys.path,
        "somepkg_file": somepkg.__file__,
        "boto3_file": boto3.__file__,
    }


def environment(event, context):
    return {name: os.environ.get(name) for name in event["names"]}


def write_object(event, context):
    body = json.dumps({"request_id": context.aws_request_id, "boto3_file": boto3.__file__})
    boto3.client("s3").put_object(Bucket=event["bucket"], Key=event["key"], Body=body.encode())
    return "written"


def sleep(event, context):
    time.sleep(event["seconds"])
    return "slept"


def pid(event, context):
    time.sleep(event["seconds"])
    return os.getpid()


def fail(event, context):
    raise ValueError(event["message"])


def remaining(event, context):
    before = context.get_remaining_time_in_millis()
    time.sleep(0.3)
    return [before, context.get_remaining_time_in_millis()]


def log(event, context):
    print("stdout", event["token"])
    print("stderr", event["token"], file=sys.stderr)
    return "logged"


ACTIONS = {
    f.__name__: f for f in (compute, environment, write_object, sleep, pid, fail, remaining, log)
}
