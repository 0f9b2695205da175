"""The order in which a local emulator accepted messages, across SES operations and SMTP.

moto's ``/moto-api/data.json`` lists each kind of message (SendEmail, SendRawEmail, templated,
bulk templated) in a list of its own, with no timestamp or sequence number, and MessageIds are
random: from it alone an outbox can only be grouped by operation.  amlses's own emulators (the
in-process :class:`~amlses.emulator.LocalEmulator` and the ``--local`` child of
:mod:`amlses.localstart`) therefore wrap moto's WSGI application in :func:`with_send_order`,
which notes the MessageIds of every successful send as moto answers it, and serves that list at
:data:`SEND_ORDER_PATH` on the same loopback HTTP server.  :func:`~amlses.emulator.read_outbox`
sorts by it when it is there (a plain moto server answers 404: its outbox keeps moto's order).

The local SMTP endpoint's messages join the same list: before a send is noted, and whenever
the list is read, the SMTP messages that arrived since the last look are appended first.  A
message is stored before its client gets ``250``, and a send is noted before its client gets
moto's answer, so one client sending one message after the other (a task's steps) sees them in
exactly that order; only sends that overlap in time may come out either way.

The cost is a regular expression over the (small) XML answer of each ``POST /`` and one string
per message kept; nothing else is read or copied.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .smtp.local import LocalSmtpServer

__all__ = ["SEND_ORDER_PATH", "SendOrder", "sent_message_ids", "with_send_order"]

#: where an amlses emulator's HTTP server lists every accepted MessageId in order (JSON list)
SEND_ORDER_PATH = "/amlses/send-order.json"

#: the root element of a successful SES send's answer (moto may put a space before it)
_SEND_ANSWER = re.compile(
    rb"\A\s*(?:<\?xml[^>]*\?>\s*)?"
    rb"<(?:SendEmail|SendRawEmail|SendTemplatedEmail|SendBulkTemplatedEmail)Response[\s>]"
)
_MESSAGE_ID = re.compile(rb"<MessageId>([^<]+)</MessageId>")


def sent_message_ids(answer: bytes) -> list[str]:
    """The MessageIds in a successful SES send's XML ``answer``, in order (a bulk send's in
    destination order); none for any other answer."""
    if _SEND_ANSWER.match(answer) is None:
        return []
    return [m.decode("utf-8", "replace").strip() for m in _MESSAGE_ID.findall(answer)]


class SendOrder:
    """MessageIds in acceptance order: the SES sends given to :meth:`record`, and the SMTP
    messages of ``smtp()`` (an endpoint that may start later, or never) merged in as they are
    noticed."""

    def __init__(self, smtp: Callable[[], LocalSmtpServer | None] = lambda: None) -> None:
        self._smtp = smtp
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._smtp_seen = 0

    def _catch_up(self) -> None:
        """Append the SMTP messages received since the last look (the lock is held)."""
        server = self._smtp()
        if server is None:
            return
        received = server.received()  # only ever grows, in arrival order
        self._ids.extend(m.message_id for m in received[self._smtp_seen :])
        self._smtp_seen = len(received)

    def record(self, message_ids: Iterable[str]) -> None:
        """Note the MessageIds of one send moto accepted, after any earlier SMTP message."""
        with self._lock:
            self._catch_up()
            self._ids.extend(message_ids)

    def snapshot(self) -> list[str]:
        """Every MessageId noted so far, in order."""
        with self._lock:
            self._catch_up()
            return list(self._ids)


def with_send_order(app: Any, order: SendOrder) -> Any:
    """moto's WSGI ``app``, noting each successful send's MessageIds in ``order`` before the
    client sees the answer, and answering GET :data:`SEND_ORDER_PATH` itself."""

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == SEND_ORDER_PATH and method in ("GET", "HEAD"):
            body = json.dumps(order.snapshot()).encode("utf-8")
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
            return [body]
        if method != "POST" or path not in ("", "/"):  # SES's query API is POST /
            return app(environ, start_response)
        statuses: list[str] = []

        def noting(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        result = app(environ, noting)
        try:
            answer = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if statuses and statuses[-1].startswith("200"):
            found = sent_message_ids(answer)
            if found:
                order.record(found)
        return [answer]  # werkzeug sends the status line with the first bytes: after record

    return serve
