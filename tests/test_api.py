"""The public API: its exported names are pinned, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import amlses


def test_exported_names_are_pinned() -> None:
    assert amlses.__all__ == [
        "AmlError",
        "AmlSyntaxError",
        "AwsError",
        "ClientCache",
        "Connection",
        "ExpressionError",
        "Identity",
        "Problem",
        "RunOptions",
        "RunResult",
        "SendDataPoint",
        "SendQuota",
        "SesSession",
        "SessionError",
        "StepError",
        "TaskError",
        "UsageError",
        "check",
        "load",
        "parse",
        "run",
        "run_file",
    ]
    for name in amlses.__all__:
        assert getattr(amlses, name) is not None


def test_cli_and_check_do_not_import_boto3_or_moto() -> None:
    code = (
        "import sys; from amlses import cli, api; "
        "api.check('<AMAWSSES ACTIVITY=\"create_session\" />', 't.aml'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'botocore', 'moto', "
        "'rich'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
