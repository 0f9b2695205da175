"""The one boundary where botocore's exceptions become amlses errors, and SES's paging.

Every SES (and STS) request amlses makes runs inside :func:`translate_errors`, so callers above
this layer only ever see :class:`~amlses.errors.AwsError` (AWS answered with an error, or could
not be reached), :class:`~amlses.errors.SessionError` (credentials) and
:class:`~amlses.errors.StepError` (bad parameters); the botocore exception stays reachable as
``__cause__``.  Error codes and messages follow spec 4.14.  :func:`paginate` lives here because
it is the other thing every listing operation shares: a loop of translated calls.

It is separate from the client building (:mod:`amlses.aws.clients`) because the mail layer needs
it without caring how a client was made.  botocore is imported inside the functions, when an
exception has to be classified, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypedDict, cast

from ..errors import AmlError, AwsError, SessionError, StepError
from .connection import without_userinfo

__all__ = ["paginate", "translate_errors"]


class _ErrorBody(TypedDict, total=False):
    Code: str
    Message: str


class _ResponseMetadata(TypedDict, total=False):
    RequestId: str
    HTTPStatusCode: int


class _ErrorResponse(TypedDict, total=False):
    """The parsed body of an AWS error answer (``ClientError.response``)."""

    Error: _ErrorBody
    ResponseMetadata: _ResponseMetadata


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into amlses errors, ``from`` the cause.

    ``operation`` is the SES operation (``ListIdentities``) and appears in the message.
    amlses errors pass through unchanged; exceptions botocore did not raise propagate as they
    are, since they are bugs rather than something a user can act on.
    """
    try:
        yield
    except AmlError:
        raise
    except Exception as exc:
        translated = _translate(exc, operation)
        if translated is None:
            raise
        raise translated from exc


def _translate(exc: Exception, operation: str) -> AmlError | None:
    """The amlses error for a botocore exception, most specific class first; None otherwise."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        return _client_error(exc, operation)
    if isinstance(exc, bx.ParamValidationError):
        return StepError(f"Invalid parameters for {operation}: {exc}")
    if isinstance(exc, bx.NoCredentialsError):
        return SessionError(
            "No AWS credentials were found. With no access key, the AWS default chain is "
            "searched (environment, shared credentials and config files, SSO, container and "
            "instance roles) and found nothing. Give an access key and secret key, set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile in "
            "~/.aws/credentials and select it with --profile NAME or AWS_PROFILE."
        )
    if isinstance(exc, bx.PartialCredentialsError):
        return SessionError(
            f"The AWS credentials from {exc.kwargs.get('provider', 'the configuration')} are "
            f"incomplete: {exc.kwargs.get('cred_var', 'a value')} is missing."
        )
    if isinstance(exc, bx.ProfileNotFound | bx.CredentialRetrievalError):
        return SessionError(f"The AWS credentials could not be loaded: {exc}")
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ResponseParserError):
        # e.g. an emulator or a proxy answering with an HTML error page instead of SES XML
        return AwsError(
            "InvalidResponse",
            "the endpoint answered with something that is not an SES response "
            "(is SERVICEURL an SES endpoint?)",
            operation=operation,
        )
    return _network_error(exc, operation)


def _client_error(exc: Exception, operation: str) -> AwsError:
    """AWS answered: keep its code, message and request id (spec 4.14)."""
    response = cast(_ErrorResponse, getattr(exc, "response", None) or {})
    error = response.get("Error", {})
    metadata = response.get("ResponseMetadata", {})
    return AwsError(
        str(error.get("Code") or "Unknown"),
        str(error.get("Message") or ""),
        request_id=metadata.get("RequestId") or None,
        operation=operation,
        status=metadata.get("HTTPStatusCode"),
    )


def _network_error(exc: Exception, operation: str) -> AmlError | None:
    """AWS could not be reached: an :class:`AwsError` whose code says how, naming the endpoint.

    These codes (``ConnectionError``, ``Timeout``, ``ProxyError``, ``SSLError``) are amlses's,
    not AWS's; ``AM_ERRORS`` can match them like any other code.
    """
    from botocore import exceptions as bx

    kwargs: dict[str, object] = getattr(exc, "kwargs", {}) or {}
    endpoint = without_userinfo(str(kwargs.get("endpoint_url") or "the SES endpoint"))
    detail: tuple[str, str] | None = None
    if isinstance(exc, bx.ProxyConnectionError):
        proxy = without_userinfo(str(kwargs.get("proxy_url") or "the proxy"))
        detail = ("ProxyError", f"Could not connect to SES through the proxy {proxy}.")
    elif isinstance(exc, bx.ConnectTimeoutError):
        detail = ("Timeout", f"Timed out connecting to {endpoint}.")
    elif isinstance(exc, bx.ReadTimeoutError):
        detail = ("Timeout", f"{endpoint} did not answer in time.")
    elif isinstance(exc, bx.SSLError):
        detail = ("SSLError", f"The TLS handshake with {endpoint} failed: {kwargs.get('error')}")
    elif isinstance(exc, bx.EndpointConnectionError):
        detail = ("ConnectionError", f"Could not connect to {endpoint}.")
    elif isinstance(exc, bx.ConnectionClosedError):
        detail = ("ConnectionError", f"{endpoint} closed the connection before answering.")
    elif isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        detail = ("ConnectionError", f"The connection to {endpoint} failed: {exc}")
    elif isinstance(exc, bx.BotoCoreError):
        return StepError(f"{operation} failed: {exc}")
    if detail is None:
        return None
    return AwsError(detail[0], detail[1], operation=operation)


def paginate(call: Callable[..., Any], operation: str, **params: Any) -> Iterator[Any]:
    """Every page of a ``NextToken``-paged SES operation, errors translated.

    ``call`` is a botocore client method (``client.list_identities``) and each page is its
    parsed answer; callers read it through the TypedDict of that operation.  A server that
    hands back a token it gave before would make the loop endless; that is an
    ``InvalidNextToken`` error instead.
    """
    seen: set[str] = set()
    token: str | None = None
    while True:
        with translate_errors(operation):
            page = call(**params, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return
        if token in seen:
            raise AwsError(
                "InvalidNextToken",
                "SES returned the same NextToken twice.",
                operation=operation,
            )
        seen.add(token)
