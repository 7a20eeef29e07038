"""assess2plan.notify on its own: real SMTP servers (aiosmtpd on 127.0.0.1) and real HTTP receivers
(http.server in a thread); retries, back-off, what is and is not retried, signatures, settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assess2plan import notify
from assess2plan.notify import DeliveryError, Message, deliver, post_webhook, send_email, smtp_settings
from tests.test_store_planning import Receiver, _free_port


@pytest.fixture(autouse=True)
def _no_smtp_env(monkeypatch):
    monkeypatch.delenv("A2P_SMTP_URL", raising=False)
    monkeypatch.delenv("A2P_MAIL_FROM", raising=False)


class SMTP:
    """A real SMTP server on 127.0.0.1 answering DATA with scripted replies (default 250)."""

    def __init__(self, replies: list[str] | None = None, users: dict[str, str] | None = None) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.replies = list(replies or [])
        self.received: list = []
        self.logins: list[str] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
                reply = outer.replies.pop(0) if outer.replies else "250 OK"
                if reply.startswith("250"):
                    outer.received.append(envelope)
                return reply

        def authenticator(server, session, envelope, mechanism, auth_data):
            login = auth_data.login.decode()
            ok = users is not None and users.get(login) == auth_data.password.decode()
            if ok:
                outer.logins.append(login)
            return AuthResult(success=ok, handled=False)

        kwargs = {}
        if users is not None:
            kwargs = {"authenticator": authenticator, "auth_require_tls": False}
        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.url = f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SMTP:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


MSG = Message(
    subject="Lake Mirren: dried up",
    text="3 species affected: Mirrenichthys auratus ...",
    html="<p><i>Mirrenichthys auratus</i></p>",
    payload={"a": 1},
)


# -- settings -----------------------------------------------------------------------------------------
def test_smtp_url_settings():
    s = smtp_settings("smtp://alerts%40lake.example:p%3Ass@mail.example.org:587?starttls=1")
    assert (s.host, s.port, s.starttls, s.tls, s.user, s.password) == (
        "mail.example.org",
        587,
        True,
        False,
        "alerts@lake.example",
        "p:ss",
    )
    s = smtp_settings("smtps://mail.example.org")
    assert (s.port, s.tls, s.starttls, s.user) == (465, True, False, None)
    assert smtp_settings("smtp://localhost").port == 25
    assert smtp_settings("smtp://h:25", user="u", password="p").user == "u"
    with pytest.raises(DeliveryError, match="not an SMTP URL") as e:
        smtp_settings("http://user:secret@mail.example.org")
    assert "secret" not in str(e.value) and "***" in str(e.value) and not e.value.retryable


# -- e-mail -------------------------------------------------------------------------------------------
def test_send_email_to_a_real_smtp_server_with_html_alternative():
    with SMTP() as server:
        send_email(
            server.url,
            "alerts@a2p.example",
            ["ana@example.org", "bob@example.org"],
            MSG.subject,
            MSG.text,
            MSG.html,
        )
    (env,) = server.received
    assert env.mail_from == "alerts@a2p.example" and env.rcpt_tos == ["ana@example.org", "bob@example.org"]
    msg = message_from_bytes(env.content, policy=policy.default)
    assert msg["Subject"] == MSG.subject and msg["To"] == "ana@example.org, bob@example.org"
    assert msg.get_body(("plain",)).get_content().strip() == MSG.text
    assert "<i>Mirrenichthys auratus</i>" in msg.get_body(("html",)).get_content()


def test_settings_come_from_the_environment(monkeypatch):
    with SMTP() as server:
        monkeypatch.setenv("A2P_SMTP_URL", server.url)
        monkeypatch.setenv("A2P_MAIL_FROM", "env-sender@a2p.example")
        r = deliver("email", "ana@example.org", MSG)
    assert r.status == "sent" and server.received[0].mail_from == "env-sender@a2p.example"


def test_smtp_login_from_the_url():
    with SMTP(users={"alerts": "p@ss word"}) as server:
        url = server.url.replace("smtp://", "smtp://alerts:p%40ss%20word@")
        send_email(url, "alerts@a2p.example", "ana@example.org", "s", "t")
        assert server.logins == ["alerts"] and len(server.received) == 1
        bad = server.url.replace("smtp://", "smtp://alerts:wrong@")
        r = deliver("email", "ana@example.org", MSG, smtp_url=bad, sleep=lambda s: None)
    assert (r.status, r.attempts) == ("failed", 1) and "refused the login" in r.last_error
    assert "wrong" not in r.last_error


def test_temporary_smtp_replies_are_retried_permanent_ones_are_not():
    delays: list[float] = []
    with SMTP(["451 4.3.0 Try again later", "421 4.7.0 Busy"]) as server:
        r = deliver("email", "ana@example.org", MSG, smtp_url=server.url, sleep=delays.append, backoff=0.1)
    assert (r.status, r.attempts) == ("sent", 3) and len(server.received) == 1
    assert [x["outcome"] for x in r.log] == ["retry", "retry", "sent"] and "451" in r.log[0]["error"]
    assert delays == [0.1, 0.2]
    with SMTP(["550 5.1.1 No such mailbox"]) as server:
        r = deliver("email", "nobody@example.org", MSG, smtp_url=server.url, sleep=delays.append)
    assert (r.status, r.attempts) == ("failed", 1) and "550" in r.last_error and server.received == []
    assert [x["outcome"] for x in r.log] == ["failed"]


def test_no_smtp_server_configured_is_a_recorded_failure_not_a_crash():
    r = deliver("email", "ana@example.org", MSG, sleep=lambda s: pytest.fail("must not wait"))
    assert (r.status, r.attempts, r.last_error) == ("failed", 0, notify.NO_SMTP)
    assert r.log[0]["error"] == "no SMTP server configured (set A2P_SMTP_URL)" and r.delivered_at is None
    with pytest.raises(DeliveryError, match="no SMTP server configured"):
        send_email(None, None, "ana@example.org", "s", "t")


def test_unreachable_smtp_server_is_retried_with_backoff_then_fails():
    delays: list[float] = []
    r = deliver(
        "email",
        "ana@example.org",
        MSG,
        smtp_url=f"smtp://127.0.0.1:{_free_port()}",
        sleep=delays.append,
        retries=3,
        backoff=0.5,
    )
    assert (r.status, r.attempts) == ("failed", 4) and delays == [0.5, 1.0, 2.0]
    assert [x["attempt"] for x in r.log] == [1, 2, 3, 4] and r.log[-1]["outcome"] == "failed"
    assert "ConnectionRefusedError" in r.last_error


# -- webhooks -----------------------------------------------------------------------------------------
def test_webhook_body_is_json_and_signed():
    payload = {"event": {"title": "Åsmund ice-out early"}, "affected": [{"taxon_id": "1", "category": "CR"}]}
    with Receiver() as rx:
        assert post_webhook(rx.url, payload, secret="k3y") == 200
        post_webhook(rx.url, payload)
    (h1, b1), (h2, b2) = rx.requests
    assert json.loads(b1) == payload and b1 == b2
    assert h1["x-a2p-signature"] == "sha256=" + hmac.new(b"k3y", b1, hashlib.sha256).hexdigest()
    assert "x-a2p-signature" not in h2 and h1["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "status, retryable", [(500, True), (502, True), (429, True), (400, False), (404, False), (410, False)]
)
def test_which_webhook_answers_are_retried(status, retryable):
    with Receiver([status]) as rx:
        with pytest.raises(DeliveryError, match=f"HTTP {status}: receiver says no") as e:
            post_webhook(rx.url, {"a": 1})
    assert e.value.retryable is retryable


def test_deliver_webhook_retries_until_it_succeeds_and_logs_every_attempt():
    delays: list[float] = []
    with Receiver([500, 500]) as rx:
        r = deliver("webhook", rx.url, MSG, secret="s", sleep=delays.append)
    assert (r.status, r.attempts, r.last_error) == ("sent", 3, "") and r.delivered_at is not None
    assert [(x["attempt"], x["outcome"]) for x in r.log] == [(1, "retry"), (2, "retry"), (3, "sent")]
    assert delays == [0.5, 1.0] and len(rx.requests) == 3
    with Receiver([500, 500, 500, 500, 500]) as rx:
        r = deliver("webhook", rx.url, MSG, retries=2, sleep=delays.append)
    assert (r.status, r.attempts) == ("failed", 3) and len(rx.requests) == 3


def test_a_slow_receiver_times_out_and_counts_as_temporary():
    release = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            release.wait(5)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = deliver("webhook", f"http://127.0.0.1:{server.server_address[1]}/", MSG, retries=0, timeout=0.2)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert r.status == "failed" and "timed out" in r.last_error and r.log[0]["outcome"] == "failed"


def test_bad_targets_fail_without_retrying():
    r = deliver("webhook", "ftp://example.org/x", MSG, sleep=lambda s: pytest.fail("must not wait"))
    assert (r.status, r.attempts) == ("failed", 1) and "not an http(s) URL" in r.last_error
    r = deliver("pigeon", "x", MSG)
    assert r.status == "failed" and "unknown channel" in r.last_error


def test_notify_does_not_import_django():
    code = (
        "import sys, assess2plan.notify; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_verify_signature():
    body = b'{"a": 1}'
    sig = notify.sign("s", body)
    assert notify.verify_signature("s", body, sig)
    assert not notify.verify_signature("s", body, None)
    assert not notify.verify_signature("other", body, sig)
