"""Real receivers on loopback for notification tests: an HTTP webhook endpoint and an SMTP server (aiosmtpd).

Webhooks refuse loopback targets by default: tests that deliver to these receivers set
``CLAW_WEBHOOK_ALLOW`` to `LOOPBACK`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1/32"


@dataclass
class Received:
    """One POST the webhook receiver accepted or refused."""

    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _WebhookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        valid = None
        if self.server.secret is not None:
            timestamp = headers.get("x-claw-timestamp", "")
            expected = (
                "sha256="
                + hmac.new(self.server.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            )
            valid = hmac.compare_digest(expected, headers.get("x-claw-signature", ""))
        status = self.server.next_status()
        if valid is False:
            status = 401
        self.server.received.append(Received(headers, body, valid))
        self.send_response(status)
        if self.server.redirect is not None:
            self.send_header("Location", self.server.redirect)
        self.send_header("Content-Type", "application/json")
        payload = json.dumps({"error": "bad signature"} if status == 401 else {"ok": status < 400}).encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class WebhookReceiver(ThreadingHTTPServer):
    """Verifies ``X-Claw-Signature`` with its own HMAC code; answers ``statuses`` in turn, then 200.

    With ``redirect``, every answer is a 307 to that URL instead.
    """

    daemon_threads = True

    def __init__(
        self, secret: str | None = None, statuses: list[int] | None = None, redirect: str | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.secret = secret
        self.redirect = redirect
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def next_status(self) -> int:
        if self.redirect is not None:
            return 307
        return self.statuses.pop(0) if self.statuses else 200

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/hooks/claw"

    @property
    def named_url(self) -> str:
        """The same endpoint by host name (``localhost``), for checks done after DNS."""
        return f"http://localhost:{self.server_address[1]}/hooks/claw"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SmtpCapture:
    """What the SMTP server saw: messages, and who logged in."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "content": envelope.content.decode(errors="replace"),
                "tls": session.ssl is not None,
                "login": session.login_data,
            }
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port requiring STARTTLS and AUTH LOGIN/PLAIN, with a CA from trustme."""

    def __init__(self, tmp_path: Path, username: str = "alerts", password: str = "hunter2") -> None:
        import trustme
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ca = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.ca_file = tmp_path / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.capture = SmtpCapture()
        capture = self.capture

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
                username.encode(),
                password.encode(),
            )
            if ok:
                capture.logins.append(username)
            return AuthResult(success=ok, handled=False)

        self.port = free_port()
        self.controller = Controller(
            self.capture,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=True,
        )

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
