"""``--local`` without the wait: moto's SES in a child process, started first, used when ready.

Starting :class:`~amlses.emulator.LocalEmulator` in the runner's own process cost a run ~1.3 s
before its first step on a 2-CPU machine, almost none of it the server itself: importing moto,
flask and werkzeug (~0.4 s), moto loading its SES backend on the first request (~0.15 s) and,
at the end, werkzeug's shutdown waiting out its 0.5 s poll interval — all of it CPU work that
the run's own start-up (imports, parsing, the static check, botocore) does not depend on.
:class:`LazyEmulator` moves it to a child process, started before the run imports anything
heavy, so the two start-ups share the machine's CPUs instead of queueing for one:

* the parent binds the listening socket on ``127.0.0.1:0`` itself and hands it to the child,
  so :attr:`LazyEmulator.endpoint_url` is known at once, before moto is even imported; a
  request sent early waits in the socket's backlog until the child accepts it;
* the child creates the fixture's identities (``VerifyEmailIdentity``/``VerifyDomainIdentity``
  through moto's own WSGI application, as a task would send them) — or warms the SES backend
  up with ``ListIdentities`` — and only then serves, so no request sees an unseeded account;
* the child never outlives the run: :meth:`LazyEmulator.stop` kills it (its state is memory
  only), and it exits by itself when its standard input closes, which happens when the parent
  dies, however it dies.  It runs in its own session, so a Ctrl-C in the terminal reaches the
  run alone, which stops the way it always does and then stops the child.

A child process also has moto's per-process state to itself: nothing is reset, and two runs in
one process (tests, services) never share identities.  The messages it accepted are read over
HTTP with :func:`~amlses.emulator.read_outbox`, as for any moto server.  Where a socket cannot
be handed to a child (Windows), the child binds the port and :attr:`endpoint_url` waits for it.

The child's side is :func:`serve_child`, the one entry point of the child process: whatever
else a local run needs served starts there too.  The local SES SMTP endpoint
(:class:`~amlses.smtp.local.LocalSmtpServer`) starts there on request — a line ``smtp`` on the
child's standard input, sent by :meth:`LazyEmulator.request_smtp` as soon as the run sees that
its task may use SMTP, or by :meth:`LazyEmulator.smtp_target` at the first SMTP step — and
only after moto serves, so a run without SMTP pays nothing for it and one with SMTP does not
delay moto.  The child answers with one JSON line, where the listeners and the CA file are; its
messages are served on moto's HTTP port (:data:`~amlses.emulator.SMTP_OUTBOX_PATH`), so the
outbox is read in one place, and so is the order of every message the child accepted
(:data:`~amlses.sendorder.SEND_ORDER_PATH`, noted by :func:`~amlses.emulator.emulator_app`).
The certificate lives in a private temporary folder the *parent* makes (the child's
``TMPDIR``) and removes, since the child is killed, not asked, to stop.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
from collections import deque
from collections.abc import Mapping
from os import PathLike
from typing import IO, TYPE_CHECKING, Any, NoReturn

from .emulator import REGION, OutboxMessage, load_fixture, read_outbox
from .errors import AmlError, UsageError

if TYPE_CHECKING:
    import subprocess

    from .smtp.local import LocalSmtpServer
    from .smtp.target import LocalSmtpTarget

__all__ = ["READY_TIMEOUT", "LazyEmulator", "serve_child"]

_HOST = "127.0.0.1"  # never 0.0.0.0: an emulator that accepts any credentials stays local
#: how long :meth:`LazyEmulator.wait` waits for moto to be ready (its import takes ~0.5 s)
READY_TIMEOUT = 60.0
#: what the child runs: its configuration comes as one JSON line on standard input, the
#: parent's module path first, so the child imports the same amlses as the parent
_BOOTSTRAP = (
    "import gc; gc.disable(); import json, sys; "  # no collection in start-up: see serve_child
    "config = json.loads(sys.stdin.readline() or 'null') or sys.exit(3); "
    "sys.path[:] = config['path']; "
    "from amlses.localstart import serve_child; serve_child(config)"
)
#: the last characters of the child's stderr kept, for the error of a child that failed
_STDERR_KEPT = 4000


class LazyEmulator:
    """moto's SES on ``127.0.0.1:<random port>`` in a child process; start/stop or ``with``.

    :meth:`start` returns at once; :attr:`endpoint_url` is valid from then on, and requests to
    it are answered as soon as moto is ready (with ``fixture``'s identities created).
    :meth:`wait` blocks until then and reports a child that failed.  The interface is
    :class:`~amlses.emulator.LocalEmulator`'s, except that the fixture is given up front:
    identities created later would race the task's first request.  A bad fixture is a
    :class:`~amlses.errors.UsageError` here, before any process starts.
    """

    def __init__(
        self,
        fixture: Mapping[str, Any] | str | PathLike[str] | None = None,
        *,
        region: str = REGION,
    ) -> None:
        self._identities = [] if fixture is None else load_fixture(fixture)["identities"]
        self._region = region
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr: deque[str] = deque()
        self._readers: list[threading.Thread] = []
        self._port: int | None = None
        self._ready = False
        self._smtp_lines: queue.Queue[str] = queue.Queue()
        self._smtp_requested = False
        self._smtp: LocalSmtpTarget | None = None
        self._folder: str | None = None

    @property
    def identities(self) -> list[str]:
        """The identities the emulator creates before it serves, in fixture order."""
        return list(self._identities)

    def start(self) -> LazyEmulator:
        """Start the child (once) and return self, without waiting for it."""
        if self._process is not None:
            return self
        from importlib.util import find_spec

        for module in ("moto", "flask"):  # fail now, not as "could not connect" in a step
            if find_spec(module) is None:
                raise UsageError(
                    "The local SES emulator needs moto and flask: pip install 'amlses[local]'"
                )
        import subprocess
        import tempfile

        from .aws.connection import LOCAL_ACCESS_KEY, LOCAL_SECRET

        # the child's temporary files (the SMTP certificate and key) go in a folder only this
        # user can enter (mkdtemp: 0700), removed by stop() even though the child is killed
        self._folder = tempfile.mkdtemp(prefix="amlses-local-")
        env = {**os.environ, "TMPDIR": self._folder, "TEMP": self._folder, "TMP": self._folder}
        listener: socket.socket | None = None
        fds: tuple[int, ...] = ()
        if os.name == "posix":
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind((_HOST, 0))
            listener.listen(128)
            self._port = int(listener.getsockname()[1])
            fds = (listener.fileno(),)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP],
                stdin=subprocess.PIPE,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=fds,
                start_new_session=os.name == "posix",  # Ctrl-C is for the run, not the child
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            self._port = None
            self._remove_folder()
            raise AmlError(f"The local SES emulator could not start: {exc}") from None
        finally:
            if listener is not None:
                listener.close()  # the child's copy serves; a dead child then refuses at once
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        config = {
            "path": [entry for entry in sys.path if isinstance(entry, str)],
            "fd": fds[0] if fds else -1,
            "region": self._region,
            "identities": self._identities,
            "smtp": {"access_key": LOCAL_ACCESS_KEY, "secret_key": LOCAL_SECRET},
            "folder": self._folder,  # the child removes it if this process dies first
        }
        try:
            process.stdin.write(json.dumps(config) + "\n")
            process.stdin.flush()
        except OSError:  # the child died at once: wait() reports what it said
            pass
        # stdin stays open: the child exits when it closes (stop(), or this process's death)
        self._readers = [
            threading.Thread(target=target, args=(stream,), daemon=True)
            for target, stream in ((self._read_ready, process.stdout), (self._keep, process.stderr))
        ]
        for reader in self._readers:
            reader.start()
        return self

    def _read_ready(self, stdout: IO[str]) -> None:
        """The child's lines: the first says ready (or why not), a later ``{"smtp": …}`` where
        the SMTP endpoint is; anything else is drained, so the child never blocks on a full
        pipe.  At the child's end, "" wakes whoever still waits.  The pipe is closed then."""
        with stdout:
            self._lines.put(stdout.readline())
            for line in stdout:
                if line.startswith('{"smtp'):
                    self._smtp_lines.put(line)
            self._smtp_lines.put("")

    def _keep(self, stderr: IO[str]) -> None:
        """Keep the end of the child's stderr (it is shown only when the child fails)."""
        kept = 0
        with stderr:
            for line in stderr:
                self._stderr.append(line)
                kept += len(line)
                while kept > _STDERR_KEPT and len(self._stderr) > 1:
                    kept -= len(self._stderr.popleft())

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: at once after :meth:`start` (on Windows, once moto is
        ready); raises UsageError before it."""
        if self._process is None:
            raise UsageError("The local SES emulator has not been started.")
        if self._port is None:
            self.wait()
        return f"http://{_HOST}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the child was started and not stopped (it may not be serving yet)."""
        return self._process is not None

    def wait(self, timeout: float = READY_TIMEOUT) -> LazyEmulator:
        """Block until the emulator serves; raise :class:`~amlses.errors.AmlError` when the
        child failed or took longer than ``timeout`` seconds."""
        if self._ready:
            return self
        if self._process is None:
            raise UsageError("The local SES emulator has not been started.")
        message = _report(self._lines, timeout, "The local SES emulator")
        if "port" not in message:
            why = message.get("error")
            raise AmlError(f"The local SES emulator could not start: {why or self._last_error()}")
        self._port, self._ready = int(message["port"]), True
        return self

    def _last_error(self) -> str:
        """The last line the child wrote on stderr (its exception), or how it ended."""
        process = self._process
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=10)
            except Exception:  # noqa: BLE001 (still running: say so below)
                code = None
        for reader in self._readers[1:]:  # what the child wrote on stderr, to the end
            reader.join(timeout=5)
        lines = "".join(self._stderr).strip().splitlines()
        if lines:
            return lines[-1]
        return "it exited" if code is None else f"it exited with code {code}"

    def request_smtp(self) -> None:
        """Ask the child to start the local SES SMTP endpoint once moto serves (at once: no
        waiting here); :meth:`smtp_target` then says where it is."""
        process = self._process
        if process is None:
            raise UsageError("The local SES emulator has not been started.")
        if self._smtp_requested:
            return
        self._smtp_requested = True
        assert process.stdin is not None
        try:
            process.stdin.write("smtp\n")
            process.stdin.flush()
        except OSError:  # the child is gone: smtp_target() reports it
            pass

    def smtp_target(self, timeout: float = READY_TIMEOUT) -> LocalSmtpTarget:
        """Where the local SES SMTP endpoint listens, once it does (requested if it was not);
        raises :class:`~amlses.errors.AmlError` when it could not start."""
        if self._smtp is not None:
            return self._smtp
        from .smtp.target import LocalSmtpTarget

        self.wait(timeout)
        self.request_smtp()
        message = _report(self._smtp_lines, timeout, "The local SES SMTP endpoint")
        found = message.get("smtp")
        if not isinstance(found, dict):
            why = message.get("smtp_error")
            raise AmlError(
                f"The local SES SMTP endpoint could not start: {why or self._last_error()}"
            )
        self._smtp = LocalSmtpTarget.from_json(found)
        return self._smtp

    def outbox(self) -> list[OutboxMessage]:
        """The messages the emulator accepted (see :func:`~amlses.emulator.read_outbox`)."""
        return read_outbox(self.wait().endpoint_url)

    def stop(self) -> None:
        """Stop the child (killed: its state is memory only); safe to call twice."""
        process, self._process = self._process, None
        self._ready = False
        if process is None:
            return
        if process.stdin is not None:
            try:
                process.stdin.close()  # the child's lifeline: it exits on EOF as well
            except OSError:
                pass
        process.kill()
        process.wait()
        for reader in self._readers:  # they close stdout and stderr at the child's EOF
            reader.join(timeout=5)
        self._readers = []
        self._smtp, self._smtp_requested = None, False
        self._remove_folder()

    def _remove_folder(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> LazyEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------
# The child's side


def serve_child(config: Mapping[str, Any]) -> None:
    """The child process: seed moto, serve on the socket the parent handed over, and exit as
    soon as standard input closes.  Prints one JSON line on stdout: ``{"port": N}`` once it
    serves, ``{"error": "…"}`` when it cannot."""
    import gc

    # Start-up allocates moto's ~900 modules, none of it garbage: collecting while importing
    # only walks them again and again.  Collection resumes once the server is up.
    gc.disable()
    serving = threading.Event()
    smtp: list[LocalSmtpServer] = []
    watch = threading.Thread(
        target=_watch_stdin,
        args=(serving, smtp, config.get("smtp") or {}, str(config.get("folder") or "")),
        name="amlses-parent-watch",
        daemon=True,
    )
    watch.start()
    try:
        from werkzeug.serving import make_server
        from werkzeug.test import Client

        from .emulator import emulator_app, quiet_werkzeug
    except ImportError as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    try:
        app = emulator_app(lambda: smtp[0] if smtp else None)
    except UsageError as exc:
        _fail(exc.message)
    quiet_werkzeug()
    region = str(config.get("region") or REGION)
    auth = (
        f"AWS4-HMAC-SHA256 Credential=testing/20200101/{region}/ses/aws4_request, "
        "SignedHeaders=host, Signature=0"
    )
    identities = [str(i) for i in config.get("identities", [])]
    calls = [
        {"Action": "VerifyEmailIdentity", "EmailAddress": i}
        if "@" in i
        else {"Action": "VerifyDomainIdentity", "Domain": i}
        for i in identities
    ] or [{"Action": "ListIdentities"}]  # loads moto's SES backend before the first request
    client = Client(app)
    for params in calls:
        response = client.post(
            "/", data={**params, "Version": "2010-12-01"}, headers={"Authorization": auth}
        )
        if response.status_code != 200:
            answer = response.get_data(as_text=True)
            _fail(f"{params['Action']} answered {response.status}: {answer}")
    fd = int(config.get("fd", -1))
    if fd >= 0:
        server = make_server(_HOST, 0, app, threaded=True, fd=fd)
    else:
        server = make_server(_HOST, 0, app, threaded=True)
    gc.freeze()  # what start-up built lives as long as the process
    gc.enable()
    _say({"port": server.server_address[1]})
    serving.set()  # an SMTP endpoint asked for may start now
    # moto builds its own API's application on the first request to it: the outbox, read
    # at the end of the run.  Built now, while the run is busy with its steps.
    threading.Thread(target=_warm, args=(client,), daemon=True).start()
    server.serve_forever()


def _warm(client: Any) -> None:
    """Ask moto's API once, for nothing but its start-up (a failure shows at the real read)."""
    try:
        client.get("/moto-api/data.json")
    except Exception:  # noqa: BLE001, S110 (the outbox read reports its own errors)
        pass


_SAY = threading.Lock()


def _say(message: Mapping[str, Any]) -> None:
    """One JSON line to the parent (two threads speak: each line whole)."""
    with _SAY:
        print(json.dumps(message), flush=True)


def _watch_stdin(
    serving: threading.Event,
    smtp: list[LocalSmtpServer],
    credentials: Mapping[str, Any],
    folder: str,
) -> None:
    """Start the SMTP endpoint when the parent asks (once moto serves), and exit the child the
    moment its standard input closes: the parent stopped it or died (then nobody else removes
    the parent's temporary folder, so the child does)."""
    try:
        for line in sys.stdin:
            if line.strip() == "smtp" and not smtp:
                serving.wait()
                _start_smtp(smtp, credentials)
    finally:
        if folder:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        os._exit(0)


def _start_smtp(smtp: list[LocalSmtpServer], credentials: Mapping[str, Any]) -> None:
    """The local SES SMTP endpoint with the run's dummy key, any region's derived password
    accepted (a task's host names its region); says where it is, or why it could not start."""
    try:
        from .smtp.local import LocalSmtpServer
        from .smtp.target import LocalSmtpTarget

        access_key, secret = str(credentials["access_key"]), str(credentials["secret_key"])
        server = LocalSmtpServer(access_key=access_key, secret_key=secret, any_region=True)
        server.start()
    except Exception as exc:  # noqa: BLE001 (the parent reports it, in one sentence)
        _say({"smtp_error": str(getattr(exc, "message", "") or f"{type(exc).__name__}: {exc}")})
        return
    smtp.append(server)
    target = LocalSmtpTarget(
        server.host,
        server.implicit_port,
        server.starttls_port,
        server.ca_file,
        access_key,
        secret,
    )
    _say({"smtp": target.to_json()})


def _fail(message: str) -> NoReturn:
    _say({"error": message})
    os._exit(3)


def _report(lines: queue.Queue[str], timeout: float, what: str) -> dict[str, Any]:
    """The child's JSON report line for ``what`` ({} for one that is not JSON), kept in the
    queue so that asking again (or after a failure) sees it too."""
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise AmlError(f"{what} did not start within {timeout:.0f} s.") from None
    lines.put(line)
    try:
        message = json.loads(line) if line else {}
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}
