"""The AWS layer: how an Automate connection reaches Amazon SES, and nothing about mail or AML.

* :mod:`~amlses.aws.connection` — :class:`Connection`, the checked settings (spec 4.4–4.7);
* :mod:`~amlses.aws.credentials` — secrets by access key id (4.9), roles, amlses tokens;
* :mod:`~amlses.aws.clients` — :class:`ClientCache` (one botocore client per connection) and
  :class:`SesClientSource`, what the layers above need of a session;
* :mod:`~amlses.aws.transport` — :func:`translate_errors`, the one botocore → amlses error
  boundary, and :func:`paginate`.

It imports only the foundation (:mod:`amlses.errors`, :mod:`amlses.secrets`, lazily
:mod:`amlses.vault`), the standard library and botocore/boto3 (inside functions).  The
operations themselves are above it: identities in :mod:`amlses.ses`, sending in
:mod:`amlses.mail`.  The names below are resolved on first use (PEP 562), so importing one
submodule does not import the others.
"""

from typing import TYPE_CHECKING

from ..lazy import exports

_EXPORTS = {
    **dict.fromkeys(
        ("DEFAULT_REGION", "Connection", "default_user_agent", "region_from_endpoint"),
        ".connection",
    ),
    "resolve_secret": ".credentials",
    **dict.fromkeys(("ClientCache", "SesClientSource"), ".clients"),
    **dict.fromkeys(("paginate", "translate_errors"), ".transport"),
}

if TYPE_CHECKING:
    from .clients import ClientCache, SesClientSource
    from .connection import DEFAULT_REGION, Connection, default_user_agent, region_from_endpoint
    from .credentials import resolve_secret
    from .transport import paginate, translate_errors

__all__ = [
    "DEFAULT_REGION",
    "ClientCache",
    "Connection",
    "SesClientSource",
    "default_user_agent",
    "paginate",
    "region_from_endpoint",
    "resolve_secret",
    "translate_errors",
]

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
