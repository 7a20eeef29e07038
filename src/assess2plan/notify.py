"""Sending notifications: e-mail over SMTP and signed JSON webhooks, with retries and a delivery log.

No Django here: the store (``assess2plan.web.store.planning``) decides *what* to send to *whom* and
records each ``DeliveryResult``; this module only sends.

E-mail settings come from the environment (or are passed explicitly):

``A2P_SMTP_URL``
    The SMTP server: ``smtp://host:port`` (plain; ``?starttls=1`` upgrades the connection with
    STARTTLS, as most submission servers on port 587 require), ``smtps://host:port`` (TLS from the
    start, port 465). A user and password may be given in the URL
    (``smtp://user:password@host:587?starttls=1``; percent-encode special characters) or passed
    to ``send_email``. Default port: 25 (smtp) / 465 (smtps).
``A2P_MAIL_FROM``
    The sender address (default ``assess2plan@localhost``).

When no SMTP server is configured, an e-mail delivery fails with the error
"no SMTP server configured (set A2P_SMTP_URL)" recorded in its log; nothing crashes.

Webhooks are HTTP ``POST`` requests with a JSON body (UTF-8). With a secret, the header
``X-A2P-Signature: sha256=<hex>`` carries HMAC-SHA256(secret, body bytes); a receiver checks it with
``verify_signature(secret, body, header)`` (or the same three lines of code in any language).

``deliver`` tries again with exponential back-off (``backoff``, ``2 * backoff``, ``4 * backoff`` ...
seconds) after connection errors, time-outs, HTTP 5xx / 429 and SMTP 4xx (temporary) replies; it
does not retry what cannot succeed by waiting: HTTP 4xx, SMTP 5xx (e.g. a refused recipient), a
missing configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

__all__ = [
    "DeliveryError",
    "DeliveryResult",
    "Message",
    "NO_SMTP",
    "SIGNATURE_HEADER",
    "deliver",
    "post_webhook",
    "send_email",
    "sign",
    "smtp_settings",
    "verify_signature",
]

SIGNATURE_HEADER = "X-A2P-Signature"
NO_SMTP = "no SMTP server configured (set A2P_SMTP_URL)"
DEFAULT_SENDER = "assess2plan@localhost"
CHANNELS = ("email", "webhook")


class DeliveryError(Exception):
    """A notification could not be sent. ``retryable``: trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass
class Message:
    """What to send: ``subject`` and ``text`` (and optionally ``html``) for e-mail, ``payload``
    (a JSON-serialisable dict) for webhooks."""

    subject: str
    text: str
    html: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeliveryResult:
    """The outcome of ``deliver``: ``status`` "sent" or "failed", the number of ``attempts``,
    ``last_error`` (empty when sent), ``delivered_at`` (UTC, when sent) and ``log``: one entry per
    attempt, ``{"attempt": n, "at": ISO time, "outcome": "sent"|"failed"|"retry", "error": text}``."""

    status: str
    attempts: int
    last_error: str = ""
    delivered_at: datetime | None = None
    log: list[dict[str, Any]] = field(default_factory=list)


# -- e-mail ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start
    starttls: bool
    user: str | None
    password: str | None
    timeout: float


def smtp_settings(
    smtp_url: str, *, user: str | None = None, password: str | None = None, timeout: float = 30.0
) -> SmtpSettings:
    """Parse ``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://...``.

    >>> smtp_settings("smtp://mail.example.org:587?starttls=1").starttls
    True
    """
    parts = urlsplit(smtp_url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError(
            f"A2P_SMTP_URL {_redact(smtp_url)!r} is not an SMTP URL (smtp://host:port or smtps://host:port)",
            retryable=False,
        )
    query = {k.lower(): v.lower() for k, v in parse_qsl(parts.query)}
    try:
        port = parts.port or (465 if scheme == "smtps" else 25)
    except ValueError:
        raise DeliveryError(f"A2P_SMTP_URL {_redact(smtp_url)!r} has a bad port", retryable=False) from None
    if "timeout" in query:
        try:
            timeout = float(query["timeout"])
        except ValueError:
            raise DeliveryError(
                f"A2P_SMTP_URL: timeout={query['timeout']!r} is not a number", retryable=False
            ) from None
    return SmtpSettings(
        host=parts.hostname,
        port=port,
        tls=scheme == "smtps",
        starttls=query.get("starttls", "") in ("1", "true", "yes", "on"),
        user=user if user is not None else (unquote(parts.username) if parts.username else None),
        password=password if password is not None else (unquote(parts.password) if parts.password else None),
        timeout=timeout,
    )


def _redact(url: str) -> str:
    """The URL without its password (never shown in messages or logs)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def send_email(
    smtp_url: str | None,
    sender: str | None,
    to: str | list[str],
    subject: str,
    body_text: str,
    body_html: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    timeout: float = 30.0,
) -> None:
    """Send one e-mail (plain text, with an HTML alternative when ``body_html`` is given).

    ``smtp_url`` None or empty: ``$A2P_SMTP_URL``; ``sender`` None: ``$A2P_MAIL_FROM``. Raises
    ``DeliveryError`` (``retryable`` for connection problems and SMTP 4xx replies).
    """
    smtp_url = smtp_url or os.environ.get("A2P_SMTP_URL", "").strip()
    if not smtp_url:
        raise DeliveryError(NO_SMTP, retryable=False)
    sender = sender or os.environ.get("A2P_MAIL_FROM", "").strip() or DEFAULT_SENDER
    recipients = [to] if isinstance(to, str) else list(to)
    s = smtp_settings(smtp_url, user=user, password=password, timeout=timeout)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content(body_text)
    if body_html:
        msg.add_alternative(body_html, subtype="html")
    where = f"SMTP server {s.host}:{s.port}"
    try:
        if s.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with client:
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
            if s.user:
                client.login(s.user, s.password or "")
            refused = client.send_message(msg, from_addr=sender, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as e:
        codes = [c for c, _ in e.recipients.values()]
        detail = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in e.recipients.items())
        raise DeliveryError(
            f"{where} refused the recipient(s): {detail}", retryable=all(400 <= c < 500 for c in codes)
        ) from None
    except smtplib.SMTPAuthenticationError as e:
        raise DeliveryError(
            f"{where} refused the login: {e.smtp_code} {_text(e.smtp_error)}", retryable=False
        ) from None
    except smtplib.SMTPResponseException as e:
        raise DeliveryError(
            f"{where} answered {e.smtp_code} {_text(e.smtp_error)}", retryable=400 <= e.smtp_code < 500
        ) from None
    except smtplib.SMTPNotSupportedError as e:
        raise DeliveryError(f"{where}: {e}", retryable=False) from None
    except (smtplib.SMTPException, OSError) as e:  # connection refused / reset, time-out, TLS failure
        raise DeliveryError(f"{where}: {type(e).__name__}: {e}", retryable=True) from None
    if refused:
        detail = "; ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in refused.items())
        raise DeliveryError(f"{where} refused some recipient(s): {detail}", retryable=False)


def _text(b: bytes | str) -> str:
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


# -- webhooks -------------------------------------------------------------------------------------
def _body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The ``X-A2P-Signature`` value of ``body``: ``"sha256=" + hex HMAC-SHA256(secret, body)``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the received ``X-A2P-Signature``) signs ``body`` with ``secret``."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every webhook (building one loads the CA certificates: slow)."""
    return ssl.create_default_context()


def post_webhook(
    url: str, payload: Mapping[str, Any], secret: str | None = None, timeout: float = 10.0
) -> int:
    """POST ``payload`` as JSON to ``url``; returns the HTTP status (2xx).

    With ``secret``, the body is signed (header ``X-A2P-Signature``). Raises ``DeliveryError``:
    retryable for connection errors, time-outs, 5xx and 429; not for other 4xx or redirects.
    """
    if not url or urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"webhook URL {url!r} is not an http(s) URL", retryable=False)
    body = _body(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "assess2plan-notify/1"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    try:
        r = httpx.post(
            url, content=body, headers=headers, timeout=timeout, follow_redirects=False, verify=_tls()
        )
    except httpx.TimeoutException as e:
        raise DeliveryError(
            f"{url}: timed out after {timeout:g} s ({type(e).__name__})", retryable=True
        ) from None
    except httpx.TransportError as e:
        raise DeliveryError(f"{url}: {type(e).__name__}: {e}", retryable=True) from None
    if 200 <= r.status_code < 300:
        return r.status_code
    detail = " ".join(r.text.split())[:200]
    retry = r.status_code >= 500 or r.status_code == 429
    raise DeliveryError(
        f"{url} answered HTTP {r.status_code}" + (f": {detail}" if detail else ""), retryable=retry
    )


# -- delivery with retries ------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def deliver(
    channel: str,
    target: str,
    message: Message,
    *,
    retries: int = 3,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    secret: str | None = None,
    smtp_url: str | None = None,
    sender: str | None = None,
    timeout: float = 10.0,
) -> DeliveryResult:
    """Send ``message`` to ``target`` over ``channel`` ("email": an address; "webhook": a URL),
    trying again up to ``retries`` more times (at most ``retries + 1`` attempts) after temporary
    failures, waiting ``backoff * 2 ** (n - 1)`` seconds after the n-th failed attempt.

    Never raises for a failed delivery: the result says what happened, attempt by attempt.
    ``sleep`` is the waiting function (tests pass one that records the delays instead of waiting).
    """
    log: list[dict[str, Any]] = []
    if channel not in CHANNELS:
        err = f"unknown channel {channel!r} (email or webhook)"
        log.append({"attempt": 0, "at": _now().isoformat(), "outcome": "failed", "error": err})
        return DeliveryResult("failed", 0, err, None, log)
    if channel == "email" and not (smtp_url or os.environ.get("A2P_SMTP_URL", "").strip()):
        log.append({"attempt": 0, "at": _now().isoformat(), "outcome": "failed", "error": NO_SMTP})
        return DeliveryResult("failed", 0, NO_SMTP, None, log)
    attempt = 0
    last = ""
    while True:
        attempt += 1
        try:
            if channel == "email":
                send_email(
                    smtp_url, sender, target, message.subject, message.text, message.html, timeout=timeout
                )
            else:
                post_webhook(target, message.payload, secret=secret, timeout=timeout)
        except DeliveryError as e:
            last = str(e)
            again = e.retryable and attempt <= retries
            log.append(
                {
                    "attempt": attempt,
                    "at": _now().isoformat(),
                    "outcome": "retry" if again else "failed",
                    "error": last,
                }
            )
            if not again:
                return DeliveryResult("failed", attempt, last, None, log)
            sleep(backoff * 2 ** (attempt - 1))
            continue
        at = _now()
        log.append({"attempt": attempt, "at": at.isoformat(), "outcome": "sent", "error": ""})
        return DeliveryResult("sent", attempt, "", at, log)
