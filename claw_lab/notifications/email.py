"""The email channel: SMTP with STARTTLS (or implicit TLS) and login, one message to all recipients."""

from __future__ import annotations

import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from claw_lab.errors import PermanentError, TransientError
from claw_lab.notifications.base import Delivery, Notification, Notifier


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


class EmailNotifier(Notifier):
    """Sends through one SMTP server; 4xx replies and dropped connections are retryable, 5xx are not."""

    channel = "email"

    def __init__(
        self,
        to: list[str],
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",
        ca_file: Path | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.to = to
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.security = security
        self.ca_file = ca_file
        self.timeout = timeout

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification``: level in the subject, data as JSON under the text."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = f"[{notification.level.upper()}] {notification.subject}"
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=notification.id, domain="claw-lab")
        body = notification.message
        if notification.data:
            body += "\n\n" + json.dumps(notification.data, indent=2, sort_keys=True)
        message.set_content(body)
        return message

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            client.starttls(context=context)
        return client

    def send(self, notification: Notification) -> Delivery:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        message = self.message(notification)
        target = f"smtp://{self.host}:{self.port}"
        try:
            with self._connect(context) as client:
                if self.username:
                    client.login(self.username, self.password or "")
                refused = client.send_message(message)
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(
                f"SMTP server {target} does not support what was asked ({exc}); check CLAW_SMTP_SECURITY"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login to {target} refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"SMTP server {target} refused every recipient: {sorted(exc.recipients)}") from None
        except smtplib.SMTPResponseException as exc:
            reply = f"SMTP server {target} answered {exc.smtp_code} {_text(exc.smtp_error)}"
            raise (TransientError(reply) if 400 <= exc.smtp_code < 500 else PermanentError(reply)) from None
        except ssl.SSLError as exc:
            raise PermanentError(f"TLS with {target} failed: {exc}") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError) as exc:
            raise TransientError(f"SMTP server {target} unreachable: {type(exc).__name__}: {exc}") from None
        accepted = [address for address in self.to if address not in refused]
        return Delivery(self.channel, ", ".join(accepted), notification.id, f"accepted by {target}")
