"""A scriptable HTTP server in front of moto, for what moto cannot do by itself.

:class:`SesProxy` listens on ``127.0.0.1:<random port>`` and forwards SES query requests to an
upstream (moto).  It is usable two ways at once:

* as the **endpoint** (``endpoint_url=proxy.url``): requests arrive in origin form (``POST /``);
* as an **HTTP proxy** (``proxy_host="127.0.0.1", proxy_port=proxy.port``) with moto as the
  endpoint: requests arrive in absolute form (``POST http://127.0.0.1:…/``) and are recorded with
  ``via_proxy=True`` and their ``Proxy-Authorization`` header.

On the way it records every request (action, parameters, headers) and applies rules, checked in
this order:

1. faults queued with :meth:`SesProxy.fail`, :meth:`SesProxy.stall`, :meth:`SesProxy.drop`,
   :meth:`SesProxy.lose_answer`, :meth:`SesProxy.fail_after_forwarding`
   (each used up after ``times`` matching requests);
2. responders installed with :meth:`SesProxy.on` / :meth:`SesProxy.respond` (persistent; a
   responder may return None to let the request through);
3. ``ListIdentities`` paging set with :meth:`SesProxy.page_identities` (moto ignores ``MaxItems``
   and ``NextToken`` and always answers with everything);
4. otherwise the request is forwarded unchanged.

Only the standard library is used, so the helper works wherever the tests do.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

SES_NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"

# Headers that describe one hop, not the request; forwarding them would confuse the next hop.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True)
class SesRequest:
    """One request as the proxy received it; ``headers`` has lower-case names."""

    action: str
    params: dict[str, str]
    headers: dict[str, str]
    path: str
    via_proxy: bool
    body: bytes = field(repr=False)
    #: ``scheme://host:port`` of an absolute-form target (proxy use), else ""
    origin: str = ""


@dataclass(frozen=True)
class ProxyResponse:
    """What the proxy answers with instead of forwarding."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/xml"})


Responder = Callable[[SesRequest], "ProxyResponse | None"]


def ses_result(action: str, result_xml: str = "", request_id: str | None = None) -> bytes:
    """A successful SES query response: ``<{action}Response><{action}Result>…``.

    ``result_xml`` is the inner XML of the result element, e.g.
    ``"<MaxSendRate>50.0</MaxSendRate>"``; use :func:`xml_fields` to build it from values.
    """
    request_id = request_id or _request_id()
    return (
        f'<{action}Response xmlns="{SES_NAMESPACE}">'
        f"<{action}Result>{result_xml}</{action}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    ).encode()


def ses_error(
    code: str, message: str, *, error_type: str = "Sender", request_id: str | None = None
) -> bytes:
    """An SES error body, in the shape moto and AWS send and botocore parses."""
    request_id = request_id or _request_id()
    return (
        f'<ErrorResponse xmlns="{SES_NAMESPACE}"><Error><Type>{escape(error_type)}</Type>'
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def xml_fields(**values: Any) -> str:
    """``<Name>value</Name>`` for each keyword, in order (values are escaped)."""
    return "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in values.items())


def _request_id() -> str:
    return str(uuid.uuid4())


class _QuietServer(ThreadingHTTPServer):
    """A request still stalled when its test ended may find the upstream gone: that is the
    test being over, not a failure worth a traceback in the output."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@dataclass
class _Fault:
    times: int
    action: str | None
    response: ProxyResponse | None = None  # None with drop=False: stall, then go on
    delay: float = 0.0
    drop: bool = False
    #: forward the request first, so the upstream acts on it, and only then misbehave
    after_forwarding: bool = False

    def matches(self, request: SesRequest) -> bool:
        return self.times > 0 and (self.action is None or self.action == request.action)


class SesProxy:
    """See the module docstring.  Start with :meth:`start` or ``with``; ``url`` is the endpoint."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._lock = threading.Lock()
        self._requests: list[SesRequest] = []
        self._faults: list[_Fault] = []
        self._responders: dict[str, Responder] = {}
        self._page_size: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> SesProxy:
        """Listen on 127.0.0.1 with a port the OS picks."""
        server = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        # A short poll interval: shutdown() waits for it, and every test stops a proxy.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> SesProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the proxy listens on."""
        assert self._server is not None, "start() the proxy first"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: use it as the endpoint URL."""
        return f"http://{self.host}:{self.port}"

    # observation ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[SesRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(self, action: str | None = None) -> int:
        """How many requests arrived (for ``action`` only, when given), failed ones included."""
        with self._lock:
            return sum(1 for r in self._requests if action is None or r.action == action)

    def actions(self) -> list[str]:
        """The action of every request, in arrival order."""
        return [r.action for r in self.requests]

    # rules ----------------------------------------------------------------------------------

    def fail(
        self,
        times: int = 1,
        *,
        action: str | None = None,
        status: int = 400,
        code: str = "Throttling",
        message: str = "Rate exceeded",
        error_type: str = "Sender",
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests (of ``action``, if given) with an SES error,
        after ``delay`` seconds.

        The default is SES's throttling error; ``status=503, code="ServiceUnavailable",
        error_type="Receiver"`` is a server-side failure.  Both are retryable for botocore.
        """
        body = ses_error(code, message, error_type=error_type)
        response = ProxyResponse(status, body)
        self._add_fault(_Fault(times, action, response=response, delay=delay))

    def stall(self, seconds: float, times: int = 1, *, action: str | None = None) -> None:
        """Wait ``seconds`` before handling the next ``times`` requests (read timeouts)."""
        self._add_fault(_Fault(times, action, delay=seconds))

    def drop(self, times: int = 1, *, action: str | None = None) -> None:
        """Close the connection without answering the next ``times`` requests."""
        self._add_fault(_Fault(times, action, drop=True))

    def lose_answer(self, times: int = 1, *, action: str | None = None) -> None:
        """Forward the next ``times`` requests — the upstream accepts them — then close the
        connection without relaying the answer: a send SES took whose answer was lost."""
        self._add_fault(_Fault(times, action, drop=True, after_forwarding=True))

    def fail_after_forwarding(
        self, times: int = 1, *, action: str | None = None, status: int = 500
    ) -> None:
        """Forward the next ``times`` requests, then answer with a server error instead of
        the upstream's answer: a 5xx after the service had already acted."""
        body = ses_error("InternalFailure", "An internal error occurred.", error_type="Receiver")
        response = ProxyResponse(status, body)
        self._add_fault(_Fault(times, action, response=response, after_forwarding=True))

    def on(self, action: str, responder: Responder) -> None:
        """Let ``responder`` answer every ``action`` request; returning None forwards it.

        The hook for behaviour moto lacks (quotas, rejections, per-recipient failures): the
        responder sees the parsed parameters and can build a body with :func:`ses_result`.
        """
        with self._lock:
            self._responders[action] = responder

    def respond(self, action: str, result_xml: str, *, status: int = 200) -> None:
        """Answer every ``action`` request with a fixed result (inner XML of the Result)."""
        self.on(action, lambda request: ProxyResponse(status, ses_result(action, result_xml)))

    def page_identities(self, page_size: int) -> None:
        """Make ``ListIdentities`` return at most ``page_size`` identities plus a NextToken."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        with self._lock:
            self._page_size = page_size

    def reset(self) -> None:
        """Forget recorded requests and every rule."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._responders.clear()
            self._page_size = None

    def _add_fault(self, fault: _Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(fault)

    # handling (called from the server's threads) ---------------------------------------------

    def _record(self, request: SesRequest) -> tuple[_Fault | None, Responder | None, int | None]:
        """Record ``request`` and pick the rules that apply, atomically."""
        with self._lock:
            self._requests.append(request)
            fault = next((f for f in self._faults if f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
            return fault, self._responders.get(request.action), self._page_size

    def _handle(self, request: SesRequest) -> ProxyResponse | None:
        """The response for ``request``; None means: close the connection without one."""
        fault, responder, page_size = self._record(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.after_forwarding:
                self._forward(request)
            if fault.drop:
                return None
            if fault.response is not None:
                return fault.response
        if responder is not None:
            answer = responder(request)
            if answer is not None:
                return answer
        if page_size is not None and request.action == "ListIdentities":
            return self._page(request, page_size)
        return self._forward(request)

    def forward(self, request: SesRequest) -> ProxyResponse:
        """Send ``request`` on to the upstream now (for a responder that changes its answer)."""
        return self._forward(request)

    def _forward(self, request: SesRequest) -> ProxyResponse:
        """Send ``request`` to the upstream and relay its answer, errors included."""
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        outgoing = urllib.request.Request(
            (request.origin or self.upstream) + request.path,
            data=request.body,
            headers=headers,
            method="POST",
        )
        # An opener without proxy handling: the tests clear *_PROXY, but be certain.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(outgoing, timeout=30) as answer:
                return ProxyResponse(answer.status, answer.read(), _relayed(answer.headers))
        except urllib.error.HTTPError as error:
            with error:
                return ProxyResponse(error.code, error.read(), _relayed(error.headers))

    def _page(self, request: SesRequest, page_size: int) -> ProxyResponse:
        """One page of moto's full identity list; the NextToken is the offset of the next."""
        upstream = self._forward(request)
        if upstream.status != 200:
            return upstream
        root = ElementTree.fromstring(upstream.body)
        members = [m.text or "" for m in root.iter(f"{{{SES_NAMESPACE}}}member")]
        start = int(request.params.get("NextToken", "0") or 0)
        size = min(page_size, int(request.params.get("MaxItems", page_size)))
        page = members[start : start + size]
        result = "<Identities>" + "".join(f"<member>{escape(m)}</member>" for m in page)
        result += "</Identities>"
        if start + size < len(members):
            result += f"<NextToken>{start + size}</NextToken>"
        return ProxyResponse(200, ses_result("ListIdentities", result))


def _relayed(headers: Any) -> dict[str, str]:
    keep = ("content-type", "x-amzn-requestid")
    return {k: v for k, v in headers.items() if k.lower() in keep}


def _make_handler(proxy: SesProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server dispatches on this name
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            target = urlsplit(self.path)
            via_proxy = bool(target.scheme)
            path = (target.path or "/") + (f"?{target.query}" if target.query else "")
            params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            request = SesRequest(
                action=params.get("Action", ""),
                params=params,
                headers={k.lower(): v for k, v in self.headers.items()},
                path=path,
                via_proxy=via_proxy,
                body=body,
                origin=f"{target.scheme}://{target.netloc}" if via_proxy else "",
            )
            response = proxy._handle(request)
            if response is None:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean, like the moto server's

    return Handler
