"""``amlses smtp-password --region REGION [--profile NAME]``: the SES SMTP password of a key.

SES's SMTP interface wants a password derived from an IAM secret access key, per region
(:func:`amlses.smtp.smtp_password`).  AWS's console makes a new IAM user for it; converting an
existing key is a script on a documentation page.  This command is that script, with the care
a secret deserves:

* the key never comes from the command line (it would sit in the shell's history and in
  ``ps``): it is read from stdin when stdin is not a terminal (one trailing newline removed,
  at most a few KB), else asked for without echo; with ``--profile``, or with nothing at all
  on stdin, botocore's credential resolution supplies it;
* temporary credentials (with a session token) are refused, because AWS says passwords
  derived from them do not work;
* stdout holds the password and nothing else, one line, so ``$(amlses smtp-password …)``
  works; every problem is one ``amlses:`` line on stderr and exit code 2, and never shows
  the key.

Only click is imported at module level, so registering the command costs ``amlses --help``
nothing; botocore is imported only for ``--profile`` or the default chain.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from ..errors import AmlError, UsageError, failure_text

if TYPE_CHECKING:
    from ..redact import Redactor

__all__ = ["read_secret", "smtp_password"]

#: the most stdin may hold: a secret access key is 40 characters, so anything longer than
#: this is a mistake (a file piped by accident), refused without being read to the end
MAX_INPUT = 4096


@click.command(
    "smtp-password",
    short_help="Print the SES SMTP password for an AWS secret access key.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--region",
    required=True,
    metavar="REGION",
    help="The SES region the password is for (a password works in one region only).",
)
@click.option(
    "--profile",
    metavar="NAME",
    help="Take the secret access key from this AWS profile instead of stdin.",
)
def smtp_password(region: str, profile: str | None) -> None:
    """Print the SES SMTP password derived from an AWS secret access key.

    The key is read from stdin when stdin is not a terminal, else asked for without echo;
    with --profile it comes from that AWS profile, and with empty stdin from the default
    credential chain (AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, ...).  The SMTP user name
    is the access key id itself.

    \b
    amlses smtp-password --region eu-west-1 < key.txt
    amlses smtp-password --region eu-west-1 --profile mailer
    """
    from ..redact import Redactor
    from ..smtp import password

    redactor = Redactor()
    try:
        if region.strip().lower() not in password.SMTP_REGIONS:  # before any key is read
            raise password.UnsupportedSmtpRegion(region)
        secret = read_secret(profile)
        redactor.add(secret)
        click.echo(password.smtp_password(secret, region))
    except AmlError as error:
        _fail(error, redactor)
    except Exception as error:  # noqa: BLE001 (never a traceback: one paragraph instead)
        _fail(error, redactor)


def read_secret(profile: str | None) -> str:
    """The secret access key: from ``profile``, stdin, a prompt, or the default chain."""
    if profile is not None:
        return _from_credentials(profile)
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        secret = click.prompt(
            "AWS secret access key", hide_input=True, err=True, default="", show_default=False
        )
        return _checked(str(secret), "typed")
    data = stdin.buffer.read(MAX_INPUT + 1) if stdin is not None else b""
    if not data:
        return _from_credentials(None)
    if len(data) > MAX_INPUT:
        raise UsageError(
            f"stdin holds more than {MAX_INPUT:,} bytes: that is not a secret access key"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the secret access key on stdin is not UTF-8 text") from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            text = text[: -len(ending)]
            break
    return _checked(text, "read from stdin")


def _checked(secret: str, how: str) -> str:
    """``secret`` if it can be a key: not empty, no blanks or control characters in it."""
    if not secret:
        raise UsageError(f"the secret access key {how} is empty")
    if any(char.isspace() or not char.isprintable() for char in secret):
        raise UsageError(
            f"the secret access key {how} contains blanks or control characters; "
            "give the key alone (one trailing newline is fine)"
        )
    return secret


def _from_credentials(profile: str | None) -> str:
    """The secret key botocore resolves for ``profile`` (None: the default chain)."""
    import botocore.exceptions
    import botocore.session

    where = f"AWS profile {profile!r}" if profile is not None else "the default credential chain"
    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise UsageError(f"{where} was not found in the AWS config or credentials files") from None
    except botocore.exceptions.BotoCoreError as error:
        raise UsageError(f"{where} could not be read: {error}") from None
    if credentials is None:
        raise UsageError(
            f"no secret access key: {where} has no credentials; give the key on stdin "
            "or name a profile with --profile"
        )
    frozen = credentials.get_frozen_credentials()
    if frozen.token:
        raise UsageError(
            f"{where} gives temporary credentials (with a session token); SES's SMTP "
            "interface does not accept passwords derived from them: use an IAM user's "
            "long-term key"
        )
    return _checked(frozen.secret_key or "", f"of {where}")


def _fail(error: BaseException, redactor: Redactor) -> NoReturn:
    """One redacted ``amlses:`` paragraph on stderr and the error's exit code."""
    text, code = failure_text(error, "the command line")
    click.echo(redactor(f"amlses: {text}"), err=True)
    sys.exit(code)
