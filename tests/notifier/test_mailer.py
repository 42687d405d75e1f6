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
from aiosmtplib.email import flatten_message

from kernel.embedded import free_port
from schemas import Customer, Language
from services.notifier.mailer import Mailer
from services.notifier.render import RenderedEmail, render_email
from services.notifier.retry import classify_failure
from services.notifier.wire import WireMessage
from tests.delivery_servers import RecordingSmtp, SmtpServer

from .conftest import COMPLAINT_NUMBER, EventFactory

REFUSED = "gone.away@example.cn"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(RecordingSmtp(refuse=frozenset({REFUSED}))).start()
    yield server
    server.stop()


def email_message(subject: str, to: str = "zhang.wei@example.cn") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Complaints Service <complaints@bank.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("test body\n")
    return msg


def message(subject: str, to: str = "zhang.wei@example.cn") -> WireMessage:
    return WireMessage.from_message(email_message(subject, to))


async def test_sequential_sends_reuse_one_connection(smtp_server: SmtpServer) -> None:
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        for n in range(5):
            await mailer.send(message(f"sequential {n}"))
        assert mailer.connections_opened == 1
    assert smtp_server.handler.subjects == [f"sequential {n}" for n in range(5)]
    assert len(smtp_server.handler.connections) == 1


async def test_burst_opens_at_most_the_pool_size(smtp_server: SmtpServer) -> None:
    async with Mailer("127.0.0.1", smtp_server.port, connections=3) as mailer:
        await asyncio.gather(*(mailer.send(message(f"concurrent {n}")) for n in range(12)))
        assert 1 <= mailer.connections_opened <= 3
    assert sorted(smtp_server.handler.subjects) == sorted(f"concurrent {n}" for n in range(12))
    assert len(smtp_server.handler.connections) == mailer.connections_opened
    assert smtp_server.handler.goodbyes == mailer.connections_opened  # close() quits every connection


async def test_a_pool_of_one_queues_callers_on_one_connection(smtp_server: SmtpServer) -> None:
    async with Mailer("127.0.0.1", smtp_server.port, connections=1) as mailer:
        await asyncio.gather(*(mailer.send(message(f"concurrent {n}")) for n in range(10)))
        assert mailer.connections_opened == 1
    assert len(smtp_server.handler.received()) == 10


class SlowSmtp(RecordingSmtp):
    """Takes a while over DATA and records how many sessions were in DATA at once."""

    def __init__(self) -> None:
        super().__init__()
        self.in_data = 0
        self.most_in_data = 0

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.in_data += 1
        self.most_in_data = max(self.most_in_data, self.in_data)
        await asyncio.sleep(0.1)
        self.in_data -= 1
        return await super().handle_DATA(server, session, envelope)


async def test_pooled_connections_are_in_their_dialogues_at_once() -> None:
    server = SmtpServer(SlowSmtp()).start()
    try:
        async with Mailer("127.0.0.1", server.port, connections=4) as mailer:
            await asyncio.gather(*(mailer.send(message(f"投诉回执 {n}")) for n in range(8)))
    finally:
        server.stop()
    handler = server.handler
    assert isinstance(handler, SlowSmtp)
    assert handler.most_in_data == 4
    assert sorted(handler.subjects) == sorted(f"投诉回执 {n}" for n in range(8))


async def test_no_connection_before_the_first_send(smtp_server: SmtpServer) -> None:
    mailer = Mailer("127.0.0.1", smtp_server.port)
    await mailer.close()
    assert mailer.connections_opened == 0
    await mailer.send(message("first after close"))  # still usable: connects on demand
    await mailer.close()
    assert mailer.connections_opened == 1
    assert smtp_server.handler.subjects == ["first after close"]


async def test_bcc_is_a_recipient_but_not_a_header(smtp_server: SmtpServer) -> None:
    msg = email_message("with a copy")
    msg["Bcc"] = "audit@bank.example"
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        await mailer.send(WireMessage.from_message(msg))
    (received,) = smtp_server.handler.received()
    assert received["Bcc"] is None
    assert set(smtp_server.handler.rcpt_attempts) == {"zhang.wei@example.cn", "audit@bank.example"}


async def test_rendered_email_arrives_intact(smtp_server: SmtpServer, make_event: EventFactory) -> None:
    rendered = render_email(
        make_event(language=Language.zh),
        mail_from="Complaints Service <complaints@bank.example>",
        reply_to=None,
        bank_timezone="Asia/Shanghai",
        message_id_domain="bank.example",
    )
    async with Mailer("127.0.0.1", smtp_server.port) as mailer:
        await mailer.send(rendered.wire)
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


class RawSmtp(RecordingSmtp):
    """Also keeps the bytes of each message as they came over the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.raw: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.raw.append(envelope.original_content)
        return await super().handle_DATA(server, session, envelope)


def chinese_acknowledgement(make_event: EventFactory, **changes: object) -> RenderedEmail:
    return render_email(
        make_event(language=Language.zh, **changes),
        mail_from="投诉服务中心 <complaints@bank.example>",
        reply_to="help@bank.example",
        bank_timezone="Asia/Shanghai",
        message_id_domain="bank.example",
    )


def test_wire_bytes_of_other_messages_are_what_send_message_would_send_to_a_7bit_server() -> None:
    msg = email_message("投诉回执", to="Zhang Wei <zhang.wei@example.cn>")
    msg.set_content("您好，这是一封测试邮件。\n")  # 8bit in memory
    msg["Cc"] = "copy@bank.example"
    msg["Bcc"] = "audit@bank.example"
    wire = WireMessage.from_message(msg)
    assert (wire.sender, wire.recipients, wire.needs_smtputf8) == (
        "complaints@bank.example",
        ("zhang.wei@example.cn", "copy@bank.example", "audit@bank.example"),
        False,
    )
    assert wire.data == flatten_message(msg, cte_type="7bit")
    assert wire.data.isascii() and b"audit@" not in wire.data


def test_rendered_wire_form_has_the_envelope_and_7bit_bytes(make_event: EventFactory) -> None:
    rendered = chinese_acknowledgement(make_event)
    wire = rendered.wire
    assert (wire.sender, wire.recipients, wire.needs_smtputf8) == (
        "complaints@bank.example",
        ("zhang.wei@example.cn",),
        False,
    )
    assert wire.data.isascii()  # one form for servers with and without 8BITMIME
    assert wire.data.endswith(b"\r\n") and b"\n" not in wire.data.replace(b"\r\n", b"")


@pytest.mark.parametrize("eight_bit", [True, False], ids=["8bitmime", "7bit-only"])
async def test_rendered_bytes_arrive_unchanged_on_servers_with_and_without_8bitmime(
    make_event: EventFactory, eight_bit: bool
) -> None:
    handler, port = RawSmtp(), free_port()
    # aiosmtpd offers 8BITMIME unless it is asked to decode the data.
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=not eight_bit)
    controller.start()
    try:
        rendered = chinese_acknowledgement(make_event)
        async with Mailer("127.0.0.1", port) as mailer:
            await mailer.send(rendered.wire)
    finally:
        controller.stop()
    (raw,) = handler.raw
    assert raw == rendered.wire.data
    (received,) = handler.received()
    assert received["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert received.get_body(("plain",)).get_content() == rendered.message.get_body(("plain",)).get_content()


async def test_a_server_without_8bitmime_gets_7bit_that_still_decodes(make_event: EventFactory) -> None:
    handler, port = RawSmtp(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, decode_data=True)  # no 8BITMIME then
    controller.start()
    try:
        async with Mailer("127.0.0.1", port) as mailer:
            await mailer.send(chinese_acknowledgement(make_event).wire)
            await mailer.send(message("一封普通邮件"))
    finally:
        controller.stop()
    assert all(raw.isascii() for raw in handler.raw)
    received, plain = handler.received()
    assert received["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert str(received["From"]) == "投诉服务中心 <complaints@bank.example>"
    assert "信用卡中心" in received.get_body(("plain",)).get_content()
    assert plain["Subject"] == "一封普通邮件"


async def test_a_non_ascii_address_goes_with_smtputf8() -> None:
    handler, port = RawSmtp(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        async with Mailer("127.0.0.1", port) as mailer:
            await mailer.send(message("国际化地址", to="张伟@例子.中国"))
    finally:
        controller.stop()
    assert set(handler.rcpt_attempts) == {"张伟@例子.中国"}
    (raw,) = handler.raw
    assert "To: 张伟@例子.中国".encode() in raw  # SMTPUTF8: headers go as UTF-8, not encoded words
    assert handler.subjects == ["国际化地址"]


async def test_a_rendered_email_to_a_non_ascii_address_needs_smtputf8(make_event: EventFactory) -> None:
    customer = Customer(name="张伟", email="张伟@例子.中国")
    rendered = chinese_acknowledgement(make_event, customer=customer)
    assert rendered.wire.needs_smtputf8 and rendered.wire.recipients == ("张伟@例子.中国",)
    handler, port = RawSmtp(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        async with Mailer("127.0.0.1", port) as mailer:
            await mailer.send(rendered.wire)
    finally:
        controller.stop()
    assert set(handler.rcpt_attempts) == {"张伟@例子.中国"}
    (raw,) = handler.raw
    assert "<张伟@例子.中国>".encode() in raw  # the address as UTF-8; the rest of the message stays 7-bit
    assert raw.replace("张伟@例子.中国".encode(), b"").isascii()
    (received,) = handler.received()
    assert received["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert "信用卡中心" in received.get_body(("plain",)).get_content()

    ascii_only, port = RecordingSmtp(), free_port()
    controller = Controller(ascii_only, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        async with Mailer("127.0.0.1", port) as mailer:
            with pytest.raises(aiosmtplib.SMTPNotSupported):
                await mailer.send(rendered.wire)
    finally:
        controller.stop()
    assert ascii_only.received() == [] and not ascii_only.rcpt_attempts
