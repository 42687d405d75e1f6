"""The mailer against real aiosmtpd servers on loopback ports."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from complaintflow.embedded import free_port
from schemas import Language
from services.notifier.mailer import Mailer
from services.notifier.render import render_email
from services.notifier.retry import classify_failure
from tests.delivery_servers import RecordingSmtp, SmtpServer

from .conftest import COMPLAINT_NUMBER, EventFactory

REFUSED = "gone.away@example.cn"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(RecordingSmtp(refuse=frozenset({REFUSED}))).start()
    yield server
    server.stop()


def message(subject: str, to: str = "zhang.wei@example.cn") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Complaints Service <complaints@bank.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("test body\n")
    return msg


async def test_burst_reuses_one_connection(smtp_server: SmtpServer) -> None:
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        for n in range(5):
            await mailer.send(message(f"sequential {n}"))
        await asyncio.gather(*(mailer.send(message(f"concurrent {n}")) for n in range(10)))
        assert mailer.connections_opened == 1
    assert len(smtp_server.handler.received()) == 15
    assert len(smtp_server.handler.connections) == 1
    assert sorted(smtp_server.handler.subjects) == sorted(
        [f"sequential {n}" for n in range(5)] + [f"concurrent {n}" for n in range(10)]
    )


async def test_rendered_email_arrives_intact(smtp_server: SmtpServer, make_event: EventFactory) -> None:
    rendered = render_email(
        make_event(language=Language.zh),
        mail_from="Complaints Service <complaints@bank.example>",
        reply_to=None,
        bank_timezone="Asia/Shanghai",
        message_id_domain="bank.example",
    )
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        await mailer.send(rendered.message)
    (received,) = smtp_server.handler.received()
    assert received["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert received["Message-ID"] == rendered.message_id
    assert received["Auto-Submitted"] == "auto-generated"
    assert "信用卡中心" in received.get_body(("plain",)).get_content()


async def test_550_is_permanent_and_the_connection_stays_usable(smtp_server: SmtpServer) -> None:
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refusal:
            await mailer.send(message("to a closed mailbox", to=REFUSED))
        assert classify_failure(refusal.value) == "permanent"
        await mailer.send(message("next customer"))
        assert mailer.connections_opened == 1
    assert smtp_server.handler.subjects == ["next customer"]


async def test_server_down_is_transient() -> None:
    mailer = Mailer("127.0.0.1", free_port(), timeout=2)
    with pytest.raises(aiosmtplib.SMTPException) as failure:
        await mailer.send(message("nobody listening"))
    assert classify_failure(failure.value) == "transient"
    await mailer.close()


async def test_reconnects_after_the_server_comes_back(smtp_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", smtp_server.port, timeout=2, probe_after_idle_s=0)
    await mailer.send(message("before the outage"))
    smtp_server.stop()
    with pytest.raises(aiosmtplib.SMTPException) as failure:
        await mailer.send(message("during the outage"))
    assert classify_failure(failure.value) == "transient"
    smtp_server.start()
    await mailer.send(message("during the outage"))  # the caller's retry
    await mailer.send(message("after the outage"))
    await mailer.close()
    assert smtp_server.handler.subjects == ["before the outage", "during the outage", "after the outage"]
    assert mailer.connections_opened == 2


async def test_idle_connection_closed_by_the_server_is_replaced(smtp_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", smtp_server.port, timeout=2, probe_after_idle_s=0)
    await mailer.send(message("first"))
    smtp_server.stop()  # drops the session the mailer holds
    smtp_server.start()
    await mailer.send(message("second"))
    await mailer.close()
    assert smtp_server.handler.subjects == ["first", "second"]
    assert len(smtp_server.handler.connections) == 2


def test_rejects_unknown_tls_mode() -> None:
    with pytest.raises(ValueError):
        Mailer("127.0.0.1", 25, tls="ssl")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
    ok = auth_data.login == b"notifier" and auth_data.password == b"correct horse"
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_tls_and_login(certificate: tuple[Path, Path], mode: str) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    handler, port = RecordingSmtp(refuse=frozenset({REFUSED})), free_port()
    # aiosmtpd does not see implicit TLS as TLS when deciding whether AUTH may be offered.
    tls_options: dict[str, object] = (
        {"tls_context": server_context, "require_starttls": True, "auth_require_tls": True}
        if mode == "starttls"
        else {"ssl_context": server_context, "auth_require_tls": False}
    )
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=_authenticator,
        **tls_options,  # type: ignore[arg-type]
    )  # fmt: skip
    controller.start()
    try:
        good = Mailer("127.0.0.1", port, "notifier", "correct horse", tls=mode, tls_context=client_context)  # type: ignore[arg-type]
        await good.send(message(f"over {mode}"))
        await good.close()
        wrong = Mailer("127.0.0.1", port, "notifier", "guess", tls=mode, tls_context=client_context)  # type: ignore[arg-type]
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await wrong.send(message("never sent"))
        await wrong.close()
    finally:
        controller.stop()
    assert handler.subjects == [f"over {mode}"]
