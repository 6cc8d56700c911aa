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
  ``AccessDeniedException``...), a delay, or a malformed token.

Control API (plain JSON over the same port, under ``/_standin/``):

    GET  /_standin/calls            -> {"ecr:GetAuthorizationToken": 3, ...}
    POST /_standin/reset            -> counts, faults and settings back to defaults
    POST /_standin/config           {"ttl": 43200, "password": "...", "delay": 0.0}
    POST /_standin/fault            {"action": "GetAuthorizationToken", "times": 1,
                                     "error": "ThrottlingException", "message": "...",
                                     "status": 400, "delay": 0, "malformed": false}
                                    (errors for STS actions such as AssumeRole are XML,
                                    as the query protocol sends them)

Run: ``python tests/standin.py --port 0 [--host 127.0.0.1] [--cert C --key K]``; it prints
``listening on <url>`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

DEFAULT_TTL = 12 * 3600
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class StandIn:
    """The wrapper: state shared by all request threads, guarded by one lock."""

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

    # -- WSGI entry point -------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path.startswith("/_standin/"):
            return self.control(request)(environ, start_response)
        service, action = self.identify(request)
        if action:
            with self.lock:
                self.calls[f"{service}:{action}"] += 1
                fault = self.take_fault(action)
                delay = self.delay
            if fault and fault.get("delay"):
                time.sleep(float(fault["delay"]))
            elif delay:
                time.sleep(delay)
            if fault and fault.get("error"):
                return aws_error(fault, service)(environ, start_response)
            if action == "GetAuthorizationToken":
                return self.token_response(request, service, fault)(environ, start_response)
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
            elif verb == "fault":
                self.faults.append(dict(body))
            else:
                return Response("unknown control verb\n", status=404)
        return json_response({"ok": True})


def b64_token(password: str) -> str:
    return base64.b64encode(f"AWS:{password}".encode()).decode()


def json_response(document: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(document, default=str),
        status=status,
        content_type="application/x-amz-json-1.1",
    )


def aws_error(fault: dict[str, Any], service: str = "ecr") -> Response:
    """An error exactly as the service sends it (JSON for ECR, XML for the query-protocol
    STS), so botocore classifies it."""
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


def build_app() -> StandIn:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        create_backend_app,
    )

    return StandIn(DomainDispatcherApplication(create_backend_app))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", help="TLS certificate (PEM); serve HTTPS when given")
    parser.add_argument("--key", help="TLS private key (PEM)")
    args = parser.parse_args(argv)
    ssl_context = (args.cert, args.key) if args.cert else None
    server = make_server(args.host, args.port, build_app(), threaded=True, ssl_context=ssl_context)
    scheme = "https" if ssl_context else "http"
    print(f"listening on {scheme}://{args.host}:{server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
