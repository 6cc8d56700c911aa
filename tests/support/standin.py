"""A local stand-in for the ECR, ECR Public and STS APIs: moto in server mode, wrapped.

moto alone is not enough for a credential helper's tests: it returns tokens that expired
in 2015, has no ECR Public backend, cannot inject faults and does not count calls. This
thin WSGI layer in front of moto's own application fixes exactly those things, so that
botocore still talks real HTTP (or HTTPS) to a real server and parses real AWS answers:

- every API call is counted by action (``X-Amz-Target`` or the query ``Action``);
- ``GetAuthorizationToken`` answers expire ``ttl`` seconds from now and carry a token that
  decodes to ``AWS:<password>``, with the password chosen by the test;
- ECR Public's ``GetAuthorizationToken`` is answered here;
- faults are queued per action: an AWS JSON error (``ThrottlingException``,
  ``AccessDeniedException``...), a delay, an answer trickled out a byte at a time, or a
  malformed token;
- a quota: ECR's per-account token bucket for ``GetAuthorizationToken`` (``rate`` per
  second, bursts of ``burst``), answering ``ThrottlingException`` beyond it, as ECR does.

Control API (plain JSON over the same port, under ``/_standin/``):

    GET  /_standin/calls            -> {"ecr:GetAuthorizationToken": 3, ...}; calls the
                                    quota refused are counted again under
                                    "ecr:GetAuthorizationToken:throttled"
    POST /_standin/reset            -> counts, faults and settings back to defaults
    POST /_standin/config           {"ttl": 43200, "password": "...", "delay": 0.0,
                                     "quota_rate": 0 (off), "quota_burst": 0}
    POST /_standin/fault            {"action": "GetAuthorizationToken", "times": 1,
                                     "error": "ThrottlingException", "message": "...",
                                     "status": 400, "delay": 0, "trickle": 0,
                                     "malformed": false, "body": "...",
                                     "content_type": "text/html"}
                                    ("body": the answer is that text as it is, with
                                    "status": a proxy's or a WAF's page, say; errors for
                                    STS actions such as AssumeRole are XML,
                                    as the query protocol sends them; "trickle" sends
                                    the answer one byte per that many seconds)

Run from the repository root: ``python -m tests.support.standin --port 0 [--host 127.0.0.1]
[--cert C --key K]`` (or by path, as :meth:`StandIn.spawn` does); it prints
``listening on <url>`` once it accepts connections.

Start it and talk to it with :class:`StandIn` (``StandIn.start(...)``, ``.calls()``,
``.reset()``, ``.fault(...)``, ``.config(...)``, ``.stop()``): the test suites, the e2e
environment and the benchmarks all use that one client. Importing this module costs only
the standard library; werkzeug and moto are imported when the server itself runs, so a
benchmark or a test that only drives a stand-in needs neither.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from werkzeug.wrappers import Request, Response

DEFAULT_TTL = 12 * 3600
LISTEN_BACKLOG = 1024
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StandInError(RuntimeError):
    """The stand-in did not start (or exited): the message carries the end of its output."""


class StandIn:
    """A stand-in server process (or one already running at ``url``) and its control API.

    The one place that knows how to start ``tests/support/standin.py`` and how to speak
    ``/_standin/``: every caller gets the same start-up wait, the same requests (always
    JSON, never through the machine's proxy: the stand-in is on loopback) and the same
    reset, which puts the password back because the server's reset forgets it.
    """

    def __init__(
        self,
        url: str = "",
        process: subprocess.Popen[bytes] | None = None,
        *,
        cafile: str | Path | None = None,
        password: str | None = None,
        log: Path | None = None,
    ) -> None:
        self.url = url
        self.process = process
        # For an https URL: the CA to verify the stand-in's certificate with.
        self.cafile = cafile
        # Put back by every reset; None keeps moto's own token.
        self.password = password
        self.log = log

    # -- the process -----------------------------------------------------------------------
    @classmethod
    def start(cls, *server_args: str, timeout: float = 60, **options: Any) -> StandIn:
        """Start a stand-in (``server_args`` as on its command line; ``--port 0`` unless
        given; ``options`` as for :meth:`spawn`: ``cafile``, ``password``, ``log``, and
        Popen's), wait until it listens, set the password. Raises :class:`StandInError`."""
        client = cls.spawn(*server_args, **options)
        try:
            client.wait_ready(timeout)
            if client.password is not None:
                client.config(password=client.password)
        except BaseException:
            client.stop()
            raise
        return client

    @classmethod
    def spawn(
        cls,
        *server_args: str,
        cafile: str | Path | None = None,
        password: str | None = None,
        log: Path | None = None,
        **popen: Any,
    ) -> StandIn:
        """Start the server process and return at once, for a caller that must record the
        process before waiting (:meth:`wait_ready`). Its stdout goes to a pipe, or with
        ``log`` to that file (appended), stderr too unless ``popen`` says otherwise;
        ``popen`` goes to :class:`subprocess.Popen` (``env``, ``start_new_session``...)."""
        argv = [sys.executable, str(Path(__file__).resolve()), "--port", "0", *server_args]
        if log is None:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, **popen)
        else:
            popen.setdefault("stderr", subprocess.STDOUT)
            with open(log, "ab") as out:
                process = subprocess.Popen(argv, stdout=out, **popen)
        return cls(process=process, cafile=cafile, password=password, log=log)

    def wait_ready(self, timeout: float = 60) -> StandIn:
        """Wait for the ``listening on URL`` line and take the URL from it; stop the
        process and raise :class:`StandInError` if it exits or stays silent too long."""
        assert self.process is not None, "no process to wait for"
        deadline = time.monotonic() + timeout
        output = b""
        while True:
            output = self._read_output(output)
            for line in output.split(b"\n")[:-1]:  # complete lines only
                text = line.decode("utf-8", "replace")
                if text.startswith("listening on "):
                    self.url = text.removeprefix("listening on ").strip()
                    return self
            if self.process.poll() is not None:
                problem = f"exited with {self.process.returncode}"
            elif time.monotonic() > deadline:
                problem = f"did not start in {timeout:.0f} s"
            else:
                continue
            self.stop()
            tail = "\n".join(output.decode("utf-8", "replace").strip().splitlines()[-15:])
            raise StandInError(f"the ECR API stand-in {problem}: {tail!r}")

    def _read_output(self, output: bytes) -> bytes:
        """All the output so far: the log file's, or what the pipe adds within 0.2 s."""
        if self.log is not None:
            time.sleep(0.1)
            return self.log.read_bytes()
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
        if not ready:
            return output
        chunk = os.read(self.process.stdout.fileno(), 4096)
        if not chunk:  # end of output: it is exiting; let poll() see it
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        return output + chunk

    @property
    def port(self) -> int:
        port = urllib.parse.urlsplit(self.url).port
        assert port is not None, f"no port in {self.url}"
        return port

    def stop(self) -> None:
        """Terminate the process this client started (by its PID) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the control API -------------------------------------------------------------------
    def control(self, verb: str, body: Mapping[str, Any] | None = None) -> Any:
        """One control request: a GET for ``calls``, a JSON POST for the others."""
        data = None if verb == "calls" and body is None else json.dumps(body or {}).encode()
        request = urllib.request.Request(
            f"{self.url}/_standin/{verb}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.url.startswith("https:"):
            import ssl

            context = ssl.create_default_context(
                cafile=None if self.cafile is None else str(self.cafile)
            )
            handlers.append(urllib.request.HTTPSHandler(context=context))
        with urllib.request.build_opener(*handlers).open(request, timeout=10) as answer:
            return json.loads(answer.read())

    def calls(self, action: str = "ecr:GetAuthorizationToken") -> int:
        """How many ``service:Action`` calls it answered since its last reset."""
        return int(self.control("calls").get(action, 0))

    def reset(self, password: str | None = None) -> None:
        """Counts, faults and settings back to defaults, then the password (this one, from
        now on, if given) set again: the server's reset forgets it."""
        if password is not None:
            self.password = password
        self.control("reset")
        if self.password is not None:
            self.config(password=self.password)

    def config(self, **settings: Any) -> None:
        """``ttl``, ``password``, ``delay``: see the module docstring."""
        self.control("config", settings)

    def fault(self, error: str = "", **fields: Any) -> None:
        """Queue a fault (``action``, ``times``, ``message``, ``status``, ``delay``,
        ``malformed``, ``body``: see the module docstring); ``error`` is the AWS error code."""
        self.control("fault", {"error": error, **fields} if error else fields)


# -- the server --------------------------------------------------------------------------


class StandInApp:
    """The WSGI application in the server process, in front of moto's: the counts, faults
    and settings it keeps are shared by all request threads, so one lock guards them.
    (:class:`StandIn` is the other side: what callers hold to start and steer it.)"""

    def __init__(self, moto_app: WSGIApp) -> None:
        self.moto_app = moto_app
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.faults: list[dict[str, Any]] = []
        self.ttl: float = DEFAULT_TTL
        self.password: str | None = None
        self.delay: float = 0.0
        self.quota = TokenBucket(0.0, 0.0)

    # -- WSGI entry point -------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        from werkzeug.wrappers import Request

        request = Request(environ)
        if request.path.startswith("/_standin/"):
            return self.control(request)(environ, start_response)
        service, action = self.identify(request)
        if action:
            name = f"{service}:{action}"
            with self.lock:
                self.calls[name] += 1
                fault = self.take_fault(action)
                delay = self.delay
                if not fault and action == "GetAuthorizationToken" and not self.quota.take():
                    self.calls[f"{name}:throttled"] += 1
                    fault = {"error": "ThrottlingException", "message": "Rate exceeded"}
            if fault and fault.get("delay"):
                time.sleep(float(fault["delay"]))
            elif delay:
                time.sleep(delay)
            app: WSGIApp = self.moto_app
            if fault and fault.get("body") is not None:
                app = raw_answer(fault)
            elif fault and fault.get("error"):
                app = aws_error(fault, service)
            elif action == "GetAuthorizationToken":
                app = self.token_response(request, service, fault)
            if fault and fault.get("trickle"):
                return trickle(app, float(fault["trickle"]))(environ, start_response)
            return app(environ, start_response)
        return self.moto_app(environ, start_response)

    @staticmethod
    def identify(request: Request) -> tuple[str, str]:
        """Which service and action a request is for, the way moto's dispatcher sees it."""
        target = request.headers.get("X-Amz-Target", "")
        if target:
            prefix, _, action = target.partition(".")
            service = "ecr-public" if prefix.startswith("SpencerFrontendService") else "ecr"
            return service, action
        # Query-protocol services (STS) name the action in the form body. Read it without
        # consuming the stream moto will read next.
        body = request.get_data(cache=True)
        request.environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = request.args.get("Action") or (form.get("Action") or [""])[0]
        return ("sts" if action else ""), action

    def take_fault(self, action: str) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.get("action", "GetAuthorizationToken") == action:
                fault["times"] = int(fault.get("times", 1)) - 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def token_response(
        self, request: Request, service: str, fault: dict[str, Any] | None
    ) -> Response | WSGIApp:
        """A real-looking token answer: moto's for ECR (rewritten), our own for ECR Public."""
        expires = time.time() + self.ttl
        if fault and fault.get("malformed"):
            token = base64.b64encode(b"no-colon-here").decode()
        else:
            token = ""
        if service == "ecr-public":
            password = self.password or "public-auth-token"
            data = {
                "authorizationToken": token or b64_token(password),
                "expiresAt": expires,
            }
            return json_response({"authorizationData": data})

        def rewrite(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
                captured["status"], captured["headers"] = status, headers

            body = b"".join(self.moto_app(environ, capture))
            if not captured["status"].startswith("200"):
                start_response(captured["status"], captured["headers"])
                return [body]
            answer = json.loads(body)
            for item in answer.get("authorizationData", []):
                item["expiresAt"] = expires
                if token:
                    item["authorizationToken"] = token
                elif self.password is not None:
                    item["authorizationToken"] = b64_token(self.password)
            return json_response(answer)(environ, start_response)  # type: ignore[no-any-return]

        return rewrite

    # -- control API -------------------------------------------------------------------
    def control(self, request: Request) -> Response:
        from werkzeug.wrappers import Response

        verb = request.path.removeprefix("/_standin/")
        body = request.get_json(silent=True) or {}
        with self.lock:
            if verb == "calls":
                return json_response(dict(self.calls))
            if verb == "reset":
                self.reset()
            elif verb == "config":
                self.ttl = float(body.get("ttl", self.ttl))
                self.password = body.get("password", self.password)
                self.delay = float(body.get("delay", self.delay))
                if "quota_rate" in body or "quota_burst" in body:
                    self.quota = TokenBucket(
                        float(body.get("quota_rate", 0)), float(body.get("quota_burst", 0))
                    )
            elif verb == "fault":
                self.faults.append(dict(body))
            else:
                return Response("unknown control verb\n", status=404)
        return json_response({"ok": True})


class TokenBucket:
    """ECR's quota on GetAuthorizationToken: ``rate`` tokens a second, up to ``burst``
    saved up; a rate of 0 means no quota. Callers hold the stand-in's lock."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.level = self.burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level < 1:
            return False
        self.level -= 1
        return True


def trickle(app: WSGIApp, interval: float) -> WSGIApp:
    """``app``'s answer, sent one byte every ``interval`` seconds: a server that never
    lets a socket read time out, yet never finishes."""

    def slow(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = b"".join(app(environ, start_response))
        for index in range(len(body)):
            yield body[index : index + 1]
            time.sleep(interval)

    return slow


def b64_token(password: str) -> str:
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def json_response(document: Any, status: int = 200) -> Response:
    from werkzeug.wrappers import Response

    return Response(
        json.dumps(document, default=str),
        status=status,
        content_type="application/x-amz-json-1.1",
    )


def aws_error(fault: dict[str, Any], service: str = "ecr") -> Response:
    """An error exactly as the service sends it (JSON for ECR, XML for the query-protocol
    STS), so botocore classifies it."""
    from werkzeug.wrappers import Response

    code = str(fault["error"])
    if service == "sts":
        from xml.sax.saxutils import escape

        message = escape(str(fault.get("message", f"injected {code}")))
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{message}</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        )
        return Response(body, status=int(fault.get("status", 400)), content_type="text/xml")
    response = json_response(
        {"__type": code, "message": fault.get("message", f"injected {code}")},
        status=int(fault.get("status", 400)),
    )
    response.headers["x-amzn-ErrorType"] = code
    response.headers["x-amzn-RequestId"] = "00000000-0000-0000-0000-000000000000"
    return response


def proxy_page(title: str, size: int = 23 * 1024) -> str:
    """A page of about ``size`` characters such as a proxy or a WAF answers in place of
    the API (a 403 with its reason in the title), for a fault's ``body``."""
    head = (
        f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>\n  {title}\n"
        "</title><style>body{margin:0}</style></head>\n<body><h1>403 Forbidden</h1><p>"
    )
    filler = "Your request was blocked by the security policy. "
    return head + filler * max((size - len(head)) // len(filler), 1) + "</p></body></html>\n"


def raw_answer(fault: dict[str, Any]) -> Response:
    """A body as it is, with the fault's status: what something in front of AWS (a
    proxy, a WAF, a captive portal) answers instead of the API."""
    from werkzeug.wrappers import Response

    return Response(
        str(fault["body"]),
        status=int(fault.get("status", 403)),
        content_type=str(fault.get("content_type", "text/html; charset=utf-8")),
    )


def build_app() -> StandInApp:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    return StandInApp(DomainDispatcherApplication(create_backend_app))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", help="TLS certificate (PEM); serve HTTPS when given")
    parser.add_argument("--key", help="TLS private key (PEM)")
    args = parser.parse_args(argv)
    ssl_context = (args.cert, args.key) if args.cert else None
    server = make_server(args.host, args.port, build_app(), threaded=True, ssl_context=ssl_context)
    # werkzeug listens with a backlog of 128: a fleet of clients connecting at once would
    # overflow it and each wait for a SYN retransmit (a second or more) that ECR never costs.
    server.socket.listen(LISTEN_BACKLOG)
    scheme = "https" if ssl_context else "http"
    print(f"listening on {scheme}://{args.host}:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
