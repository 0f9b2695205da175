"""The SES SMTP password, its regions and host names, and ``amlses smtp-password``.

The expected passwords are computed here by a second implementation of AWS's algorithm
written differently: HMAC-SHA256 built from ``hashlib`` by RFC 2104's formula (checked
against RFC 4231's test vectors), not with the ``hmac`` module amlses uses.  AWS's
documentation publishes the algorithm and an example *key*, but no example password, so
there is no published value to compare with.

The command runs as a real subprocess (``python -m amlses``) with the key on stdin, in a
profile of the AWS files ``clean_environ`` points at, or in the environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlses.errors import EXIT_INVALID, UsageError
from amlses.smtp import (
    SMTP_FIPS_REGIONS,
    SMTP_REGIONS,
    UnsupportedSmtpRegion,
    region_of_smtp_host,
    smtp_host,
    smtp_password,
)

#: the example secret key of AWS's documentation
AWS_EXAMPLE_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: the regions of AWS's own example script (the minimum amlses must know)
AWS_EXAMPLE_REGIONS = {
    "us-east-2",
    "us-east-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-south-1",
    "eu-north-1",
    "sa-east-1",
    "us-gov-west-1",
    "us-gov-east-1",
}
KEYS = [
    AWS_EXAMPLE_KEY,
    "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/==",
    "k" * 70,  # "AWS4" + key is longer than SHA-256's 64-byte block: the key is hashed first
    "clé-non-ascii",
]


def rfc2104_hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 by RFC 2104's definition: H((K ^ opad) || H((K ^ ipad) || m))."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key + bytes(block - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + message).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def reference_password(secret: str, region: str) -> str:
    """AWS's SMTP password algorithm (version 4), on the RFC 2104 HMAC above."""
    signature = ("AWS4" + secret).encode("utf-8")
    for part in ("11111111", region, "ses", "aws4_request", "SendRawEmail"):
        signature = rfc2104_hmac_sha256(signature, part.encode("utf-8"))
    return base64.b64encode(bytes([4]) + signature).decode("ascii")


def amlses(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """``python -m amlses ARGS`` with ``stdin``: (exit code, stdout, stderr)."""
    result = subprocess.run(
        [sys.executable, "-m", "amlses", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        env=env if env is not None else dict(os.environ),
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


class TestReference:
    """The second implementation is itself right: RFC 4231's HMAC-SHA256 test vectors."""

    @pytest.mark.parametrize(
        "key, data, digest",
        [
            (
                b"\x0b" * 20,
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                b"\xaa" * 131,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ],
        ids=["case-1", "case-2", "case-6"],
    )
    def test_rfc_4231(self, key: bytes, data: bytes, digest: str) -> None:
        assert rfc2104_hmac_sha256(key, data).hex() == digest


class TestPassword:
    @pytest.mark.parametrize(
        "region", ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"]
    )
    @pytest.mark.parametrize("secret", KEYS, ids=["aws-example", "base64ish", "long", "non-ascii"])
    def test_matches_the_independent_implementation(self, secret: str, region: str) -> None:
        assert smtp_password(secret, region) == reference_password(secret, region)

    def test_every_region_gives_a_different_version_4_password(self) -> None:
        passwords = {smtp_password(AWS_EXAMPLE_KEY, region) for region in SMTP_REGIONS}
        assert len(passwords) == len(SMTP_REGIONS)
        for password in passwords:
            raw = base64.b64decode(password, validate=True)
            assert (len(raw), raw[0]) == (33, 4)

    def test_the_region_is_read_as_ses_spells_it(self) -> None:
        assert smtp_password(AWS_EXAMPLE_KEY, " EU-West-1 ") == reference_password(
            AWS_EXAMPLE_KEY, "eu-west-1"
        )

    def test_aws_s_example_regions_are_all_known(self) -> None:
        assert AWS_EXAMPLE_REGIONS <= SMTP_REGIONS
        assert SMTP_FIPS_REGIONS <= SMTP_REGIONS

    @pytest.mark.parametrize("region", ["mars-north-1", "", "cn-north-1", "eu-west-1\x1b[2J"])
    def test_an_unknown_region_is_refused_with_the_list(self, region: str) -> None:
        with pytest.raises(UnsupportedSmtpRegion) as refused:
            smtp_password(AWS_EXAMPLE_KEY, region)
        error = refused.value
        assert isinstance(error, UsageError) and error.exit_code == EXIT_INVALID
        assert error.code == "UnsupportedSmtpRegion"
        message = str(error)
        assert all(known in message for known in SMTP_REGIONS)
        assert AWS_EXAMPLE_KEY not in message and "\x1b" not in message

    def test_an_empty_key_is_refused(self) -> None:
        with pytest.raises(UsageError, match="empty"):
            smtp_password("", "eu-west-1")


class TestHosts:
    def test_host_names(self) -> None:
        assert smtp_host("eu-west-1") == "email-smtp.eu-west-1.amazonaws.com"
        assert smtp_host("US-EAST-1", fips=True) == "email-smtp-fips.us-east-1.amazonaws.com"
        with pytest.raises(UnsupportedSmtpRegion, match="FIPS"):
            smtp_host("eu-west-1", fips=True)
        with pytest.raises(UnsupportedSmtpRegion):
            smtp_host("mars-north-1")

    @pytest.mark.parametrize("region", sorted(SMTP_REGIONS))
    def test_each_host_names_its_region(self, region: str) -> None:
        assert region_of_smtp_host(smtp_host(region)) == region

    @pytest.mark.parametrize(
        "host, region",
        [
            ("email-smtp.eu-west-1.amazonaws.com", "eu-west-1"),
            ("EMAIL-SMTP.EU-WEST-1.AMAZONAWS.COM.", "eu-west-1"),
            ("email-smtp-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
            ("email-smtp-fips.eu-west-1.amazonaws.com", None),  # no FIPS endpoint there
            ("email-smtp.mars-north-1.amazonaws.com", None),
            ("email.eu-west-1.amazonaws.com", None),  # the API, not SMTP
            ("email-smtp.eu-west-1.amazonaws.com.example.org", None),
            ("xemail-smtp.eu-west-1.amazonaws.com", None),
            ("smtp.example.org", None),
            ("127.0.0.1", None),
        ],
    )
    def test_region_of_smtp_host(self, host: str, region: str | None) -> None:
        assert region_of_smtp_host(host) == region


class TestCommand:
    def test_the_key_on_stdin_gives_the_password_alone(self) -> None:
        code, out, err = amlses(
            "smtp-password", "--region", "eu-west-1", stdin=AWS_EXAMPLE_KEY.encode() + b"\n"
        )
        assert (code, out, err) == (0, reference_password(AWS_EXAMPLE_KEY, "eu-west-1") + "\n", "")

    @pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
    def test_one_line_ending_is_removed(self, ending: bytes) -> None:
        code, out, _ = amlses("smtp-password", "--region", "us-east-1", stdin=b"secret" + ending)
        assert (code, out) == (0, reference_password("secret", "us-east-1") + "\n")

    @pytest.mark.parametrize(
        "stdin, says",
        [
            (b"\n", "empty"),
            (b"\r\n", "empty"),
            (AWS_EXAMPLE_KEY.encode() + b" \n", "blanks"),
            (AWS_EXAMPLE_KEY.encode() + b"\n\n", "blanks"),
            (b"\xff\xfe" + AWS_EXAMPLE_KEY.encode(), "UTF-8"),
            (b"k" * 5000, "4,096 bytes"),
        ],
        ids=["newline", "crlf", "trailing-blank", "two-lines", "not-utf8", "too-long"],
    )
    def test_a_key_that_cannot_be_one_is_refused_in_one_line(self, stdin: bytes, says: str) -> None:
        code, out, err = amlses("smtp-password", "--region", "eu-west-1", stdin=stdin)
        assert (code, out) == (EXIT_INVALID, "")
        assert err.startswith("amlses: ") and says in err and err.count("\n") == 1
        assert AWS_EXAMPLE_KEY not in err

    def test_an_unknown_region_is_refused_before_the_key_is_read(self) -> None:
        code, out, err = amlses("smtp-password", "--region", "mars-north-1", stdin=b"topsecret\n")
        assert (code, out) == (EXIT_INVALID, "")
        assert all(region in err for region in SMTP_REGIONS)
        assert "topsecret" not in err and err.count("\n") == 1

    def test_the_region_is_required(self) -> None:
        code, out, err = amlses("smtp-password", stdin=b"topsecret\n")
        assert (code, out) == (EXIT_INVALID, "") and "--region" in err

    def test_a_profile_supplies_the_key(self, clean_environ: object, tmp_path: Path) -> None:
        credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
        credentials.write_text(
            f"[mailer]\naws_access_key_id = AKIAMAILER\naws_secret_access_key = {AWS_EXAMPLE_KEY}\n"
        )
        code, out, err = amlses(
            "smtp-password", "--region", "eu-central-1", "--profile", "mailer", stdin=b"ignored\n"
        )
        assert (code, out, err) == (
            0,
            reference_password(AWS_EXAMPLE_KEY, "eu-central-1") + "\n",
            "",
        )

    def test_a_profile_in_the_config_file_works_too(self, clean_environ: object) -> None:
        config = Path(os.environ["AWS_CONFIG_FILE"])
        config.write_text(
            "[profile cfg]\naws_access_key_id = AKIACFG\naws_secret_access_key = from-config\n"
        )
        code, out, _ = amlses("smtp-password", "--region", "us-west-2", "--profile", "cfg")
        assert (code, out) == (0, reference_password("from-config", "us-west-2") + "\n")

    def test_an_unknown_profile_is_one_line(self, clean_environ: object) -> None:
        code, out, err = amlses("smtp-password", "--region", "eu-west-1", "--profile", "nobody")
        assert (code, out) == (EXIT_INVALID, "")
        assert (
            err == "amlses: AWS profile 'nobody' was not found in the AWS config or credentials"
            " files\n"
        )

    def test_temporary_credentials_are_refused(self, clean_environ: object) -> None:
        Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
            "[sts]\naws_access_key_id = ASIATEMP\naws_secret_access_key = temporarysecret\n"
            "aws_session_token = token\n"
        )
        code, out, err = amlses("smtp-password", "--region", "eu-west-1", "--profile", "sts")
        assert (code, out) == (EXIT_INVALID, "")
        assert "temporary credentials" in err and "temporarysecret" not in err

    def test_empty_stdin_falls_back_to_the_default_chain(self, clean_environ: object) -> None:
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "envsecret"}
        code, out, err = amlses("smtp-password", "--region", "sa-east-1", env=env)
        assert (code, out, err) == (0, reference_password("envsecret", "sa-east-1") + "\n", "")

    def test_no_key_anywhere_is_one_line(self, clean_environ: object) -> None:
        code, out, err = amlses("smtp-password", "--region", "eu-west-1")
        assert (code, out) == (EXIT_INVALID, "")
        assert err.startswith("amlses: no secret access key") and err.count("\n") == 1

    def test_a_terminal_is_asked_without_echo(self) -> None:
        """On a terminal the key is prompted for, and the terminal does not show it."""
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "amlses", "smtp-password", "--region", "eu-west-1"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # no controlling terminal: getpass reads stdin's
        )
        os.close(follower)
        try:
            assert process.stderr is not None and process.stdout is not None
            # the blank after the prompt is written once echo is off: only then type
            prompt = _read(process.stderr.fileno(), until=b"AWS secret access key: ")
            os.write(leader, AWS_EXAMPLE_KEY.encode() + b"\n")
            out = process.stdout.read()
            err = prompt + process.stderr.read()
            process.wait(60)
            shown = _read(leader, until=None)
        finally:
            os.close(leader)
            process.kill()
            process.communicate()  # and closes the pipes
        assert process.returncode == 0
        assert out.decode() == reference_password(AWS_EXAMPLE_KEY, "eu-west-1") + "\n"
        assert AWS_EXAMPLE_KEY.encode() not in shown + err

    def test_help_lists_the_command(self) -> None:
        code, out, _ = amlses("--help")
        assert code == 0 and "smtp-password" in out


def _read(fd: int, until: bytes | None, wait: float = 30.0) -> bytes:
    """What ``fd`` gives until ``until`` appeared (None: until it has nothing more)."""
    seen = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and (until is None or until not in seen):
        ready, _, _ = select.select([fd], [], [], 0.1 if until is None else 1.0)
        if not ready:
            if until is None:
                break
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # a terminal whose other end is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen
