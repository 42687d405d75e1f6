from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from domain.pii import mask_free_text, redact
from schemas import CUSTOMER_FACING_EVENTS, Channel, Customer, EventKind, Language, Severity
from services.notifier import mime
from services.notifier.render import InvalidRecipient, RenderedEmail, render_email, render_sms, thread_root_id
from tools.notifier_examples import render_examples

from .conftest import COMPLAINT_ID, COMPLAINT_NUMBER, EMMA, ZHANG_WEI, EventFactory

MAIL = {
    "mail_from": "Complaints Service <complaints@bank.example>",
    "reply_to": "tousu@bank.example",
    "bank_timezone": "Asia/Shanghai",
    "message_id_domain": "bank.example",
}
FULL_CARD = "6222021234567890"
FULL_ID = "11010519491231002X"
KINDS = sorted(CUSTOMER_FACING_EVENTS)
DETAILS_EN = {
    "note": "Please send a screenshot of the SMS you received for the payment on 20 November.",
    "reason": "we need the card scheme to obtain the transaction records from an overseas merchant",
    "new_deadline": "2026-12-22T15:59:00+00:00",
    "previous_deadline": "2026-12-07T15:59:00+00:00",
}
DETAILS = {
    "note": "请提供2026年11月20日那笔交易的扣款短信截图。",
    "reason": "需要向境外商户调取交易凭证",
    "new_deadline": "2026-12-22T15:59:00+00:00",
    "previous_deadline": "2026-12-07T15:59:00+00:00",
}


def _parts(rendered: RenderedEmail) -> tuple[str, str]:
    text = rendered.message.get_body(("plain",)).get_content()
    html = rendered.message.get_body(("html",)).get_content()
    return text, html


def _wire(rendered: RenderedEmail) -> EmailMessage:
    """The message as a receiver parses the bytes that go over SMTP."""
    return message_from_bytes(rendered.wire.data, policy=policy.default)  # type: ignore[return-value]


def _parse_fields(fields: str) -> EmailMessage:
    return message_from_bytes(fields.encode() + b"\r\n", policy=policy.default)  # type: ignore[return-value]


def _lines(data: bytes | str) -> list[str]:
    text = data.decode() if isinstance(data, bytes) else data
    assert "\r" not in text.replace("\r\n", "") and "\n" not in text.replace("\r\n", "")  # CRLF only
    return text.split("\r\n")


@pytest.mark.parametrize("language", [Language.zh, Language.en])
@pytest.mark.parametrize("kind", KINDS)
def test_every_customer_facing_event_renders(make_event: EventFactory, kind: EventKind, language: Language) -> None:
    event = make_event(kind, language=language, details=DETAILS if language == Language.zh else DETAILS_EN)
    rendered = render_email(event, **MAIL)
    text, html = _parts(rendered)
    assert rendered.subject.startswith(f"[{COMPLAINT_NUMBER}] ")
    assert COMPLAINT_NUMBER in text and COMPLAINT_NUMBER in html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert f'lang="{"zh-CN" if language == Language.zh else "en"}"' in html
    assert "{{" not in text + html and "{%" not in text + html
    if language == Language.zh:
        assert "尊敬的张伟" in text and "您" in text
    else:
        assert "Dear 张伟," in text and "complaint" in text.lower()

    sms = render_sms(event, bank_timezone="Asia/Shanghai")
    assert COMPLAINT_NUMBER in sms.text
    assert 1 <= sms.segments <= 3
    assert sms.encoding == ("UCS-2" if language == Language.zh else "GSM-7")


@pytest.mark.parametrize("kind", KINDS)
def test_templates_cope_with_missing_optional_values(make_event: EventFactory, kind: EventKind) -> None:
    bare = Customer(email="li.na@example.cn")
    for language in (Language.zh, Language.en, Language.mixed, None):
        event = make_event(kind, language=language, department=None, deadline=None, customer=bare, details={})
        text, html = _parts(render_email(event, **MAIL))
        assert COMPLAINT_NUMBER in text and COMPLAINT_NUMBER in html
        assert "None" not in text and "None" not in html
        assert "None" not in render_sms(event, bank_timezone="Asia/Shanghai").text


def test_language_choice(make_event: EventFactory) -> None:
    subjects = {
        language: render_email(make_event(language=language), **MAIL).subject
        for language in (Language.zh, Language.en, Language.mixed, None)
    }
    assert subjects[Language.en] == f"[{COMPLAINT_NUMBER}] We have received your complaint"
    assert subjects[Language.zh] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert subjects[Language.mixed] == subjects[None] == subjects[Language.zh]


def test_acknowledgement_content(make_event: EventFactory) -> None:
    text, _ = _parts(render_email(make_event(), **MAIL))
    assert "北京时间2026年12月7日 23:59" in text  # 15:59 UTC shown in the customer's zone
    assert "信用卡中心" in text
    assert "尾号为 7890 的银行卡" in text
    assert "回复本邮件" in text and "投诉编号" in text

    english = make_event(language=Language.en, customer=EMMA, department="fraud")
    text, _ = _parts(render_email(english, **MAIL))
    assert "7 December 2026, 15:59 UK time" in text
    assert "Fraud prevention team" in text
    assert "reply to this email" in text


def test_unknown_customer_zone_falls_back_to_the_bank_zone(make_event: EventFactory) -> None:
    event = make_event(customer=ZHANG_WEI.model_copy(update={"timezone": "Mars/Olympus"}))
    text, _ = _parts(render_email(event, **MAIL))
    assert "北京时间2026年12月7日 23:59" in text


def test_extension_gives_reason_and_new_deadline(make_event: EventFactory) -> None:
    details = {**DETAILS, "approver": "王主任"}
    text, html = _parts(render_email(make_event(EventKind.extended, details=details), **MAIL))
    assert "延期原因：需要向境外商户调取交易凭证" in text
    assert "新的处理期限：北京时间2026年12月22日 23:59" in text
    assert "原处理期限：北京时间2026年12月7日 23:59" in text
    assert "高级管理人员批准" in text and "王主任" not in text + html  # approval stated, approver not named

    english = make_event(EventKind.extended, language=Language.en, details={"reason": "we are waiting for Visa"})
    text, _ = _parts(render_email(english, **MAIL))
    assert "Reason for the extension: we are waiting for Visa" in text
    assert "New date for our decision: 7 December 2026, 23:59 Beijing time" in text  # falls back to deadline


def test_rejection_explains_how_to_escalate(make_event: EventFactory) -> None:
    for language in (Language.zh, Language.en):
        text, html = _parts(render_email(make_event(EventKind.rejected, language=language, details=DETAILS), **MAIL))
        assert "12378" in text and "12378" in html
    sms = render_sms(make_event(EventKind.rejected), bank_timezone="Asia/Shanghai")
    assert "12378" in sms.text


def test_closed_asks_for_a_rating(make_event: EventFactory) -> None:
    zh_text, _ = _parts(render_email(make_event(EventKind.closed), **MAIL))
    assert "1-5" in zh_text and "不会作为新的投诉" in zh_text
    en_sms = render_sms(make_event(EventKind.closed, language=Language.en), bank_timezone="Asia/Shanghai")
    assert "Reply with one number" in en_sms.text and "5 very satisfied" in en_sms.text


def test_resolved_shows_the_outcome(make_event: EventFactory) -> None:
    outcome = "已为您退还年费 300 元，款项将于3个工作日内到账。"
    text, _ = _parts(render_email(make_event(EventKind.resolved, details={"note": outcome}), **MAIL))
    assert outcome in text


@pytest.mark.parametrize("kind", [EventKind.need_info, EventKind.resolved, EventKind.rejected, EventKind.in_progress])
def test_full_numbers_never_leak(make_event: EventFactory, kind: EventKind) -> None:
    leaky = (
        f"经核实，卡号{FULL_CARD}于11月20日被扣款；身份证{FULL_ID}；"
        "另一张卡 6222 0212 3456 7891；请致电13812345678联系客户经理。"
    )
    customer = ZHANG_WEI.model_copy(update={"card_last4": "6222 0212 3456 7890", "account_last4": FULL_CARD})
    for language in (Language.zh, Language.en):
        event = make_event(kind, language=language, customer=customer, details={"note": leaky, "reason": leaky})
        text, html = _parts(render_email(event, **MAIL))
        sms = render_sms(event, bank_timezone="Asia/Shanghai").text
        for body in (text, html, sms):
            digits = re.sub(r"[ \-]", "", body)
            assert FULL_CARD not in digits and "6222021234567891" not in digits
            assert FULL_ID not in body and "13812345678" not in digits
        if kind == EventKind.need_info:
            assert "7890" in text  # the last four still help the customer recognise the card


def test_header_injection_in_name_adds_no_header(make_event: EventFactory) -> None:
    evil = Customer(name="Zhang\r\nBcc: attacker@evil.example\r\nX-Evil: 1", email="zhang.wei@example.cn")
    rendered = render_email(make_event(customer=evil), **MAIL)
    wire = _wire(rendered)
    assert wire["Bcc"] is None and wire["X-Evil"] is None
    assert [a.addr_spec for a in wire["To"].addresses] == ["zhang.wei@example.cn"]
    assert "\n" not in str(wire["To"]) and "\r" not in str(wire["To"])
    names = {name.lower() for name in wire}
    assert names == {
        "from", "to", "reply-to", "subject", "date", "message-id", "auto-submitted",
        "x-auto-response-suppress", "x-complaint-number", "mime-version", "content-type", "content-language",
    }  # fmt: skip


def test_injected_address_or_number_is_rejected_or_neutralised(make_event: EventFactory) -> None:
    with pytest.raises(InvalidRecipient):
        render_email(make_event(customer=Customer(email="a@example.cn\r\nBcc: x@evil.example")), **MAIL)
    with pytest.raises(InvalidRecipient):
        render_email(make_event(customer=Customer(phone="+8613812345678")), **MAIL)
    wire = _wire(render_email(make_event(complaint_number="CF-1\r\nBcc: x@evil.example"), **MAIL))
    assert wire["Bcc"] is None


def test_required_headers_and_stable_message_id(make_event: EventFactory) -> None:
    event = make_event()
    first = render_email(event, **MAIL)
    again = render_email(event, **MAIL, sent_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    other = render_email(make_event(EventKind.assigned), **MAIL)
    assert first.message_id == again.message_id == first.message["Message-ID"]
    assert first.message_id != other.message_id
    assert first.message_id == f"<{COMPLAINT_ID}.thread@bank.example>"  # the acknowledgement starts the thread
    assert re.fullmatch(r"<evt_[0-9a-f]{24}\.email@bank\.example>", other.message_id)
    wire = _wire(first)
    assert wire["Auto-Submitted"] == "auto-generated"
    assert wire["X-Complaint-Number"] == COMPLAINT_NUMBER
    assert wire["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"
    assert wire["Reply-To"] == "tousu@bank.example"
    assert wire["Date"].datetime == event.occurred_at
    assert wire["Content-Language"] == "zh-CN"
    assert wire.get_content_type() == "multipart/alternative"


def test_reply_threads_to_the_customer_message_when_known(make_event: EventFactory) -> None:
    event = make_event(details={"in_reply_to": "<CAB123@mail.example.cn>"})
    wire = _wire(render_email(event, **MAIL))
    assert wire["In-Reply-To"] == "<CAB123@mail.example.cn>" == wire["References"]
    junk = _wire(render_email(make_event(details={"in_reply_to": "<a@b>\r\nBcc: x@y.z"}), **MAIL))
    assert junk["In-Reply-To"] is None and junk["Bcc"] is None


def test_every_mail_of_a_complaint_without_customer_mail_threads_under_the_acknowledgement(
    make_event: EventFactory,
) -> None:
    ack = render_email(make_event(channel=Channel.webform), **MAIL)
    assert ack.message_id == thread_root_id(COMPLAINT_ID, "bank.example")
    assert _wire(ack)["In-Reply-To"] is None
    for kind in (EventKind.assigned, EventKind.need_info, EventKind.resolved):
        later = render_email(make_event(kind, channel=Channel.webform), **MAIL)
        wire = _wire(later)
        assert later.message_id != ack.message_id
        assert wire["In-Reply-To"] == ack.message_id == wire["References"]


def test_every_mail_of_an_emailed_complaint_threads_under_the_customer_mail(make_event: EventFactory) -> None:
    for kind in (EventKind.acknowledged, EventKind.need_info, EventKind.resolved):
        rendered = render_email(make_event(kind, details={"in_reply_to": "<CAB123@mail.example.cn>"}), **MAIL)
        assert _wire(rendered)["In-Reply-To"] == "<CAB123@mail.example.cn>"
        assert rendered.message_id != "<CAB123@mail.example.cn>"


def test_html_is_escaped_and_text_is_not(make_event: EventFactory) -> None:
    note = 'Please send the <b>receipt</b> & statement "as PDF"'
    event = make_event(EventKind.need_info, language=Language.en, details={"note": note})
    text, html = _parts(render_email(event, **MAIL))
    assert note in text
    assert "&lt;b&gt;receipt&lt;/b&gt; &amp; statement &#34;as PDF&#34;" in html
    assert "<b>receipt</b>" not in html


def test_not_customer_facing_is_refused(make_event: EventFactory) -> None:
    with pytest.raises(ValueError):
        render_email(make_event(EventKind.sla_warning), **MAIL)
    with pytest.raises(ValueError):
        render_sms(make_event(EventKind.feedback_received), bank_timezone="Asia/Shanghai")


def test_long_note_is_shortened_in_sms_but_number_and_instructions_stay(make_event: EventFactory) -> None:
    note = "请提供以下材料：" + "、".join(f"第{i}笔交易的扣款凭证" for i in range(1, 30))
    sms = render_sms(make_event(EventKind.need_info, details={"note": note}), bank_timezone="Asia/Shanghai")
    assert sms.segments <= 3 and COMPLAINT_NUMBER in sms.text
    assert "…" in sms.text and sms.text.endswith("勿发送密码或验证码。")

    english = make_event(EventKind.need_info, language=Language.en, details={"note": "copies of " * 80})
    sms = render_sms(english, bank_timezone="Asia/Shanghai", max_segments=2)
    assert sms.segments <= 2 and sms.encoding == "GSM-7" and COMPLAINT_NUMBER in sms.text


def test_critical_flag_is_available_and_examples_regenerate(make_event: EventFactory) -> None:
    assert render_email(make_event(severity=Severity.critical), **MAIL).subject
    examples = render_examples()
    assert "我们已受理您的投诉" in examples and "We have received your complaint" in examples
    assert examples.count("```") % 2 == 0


def test_local_mask_keeps_dates_hotlines_and_complaint_numbers() -> None:
    text = "卡号6222021234567890，另卡 6222-0212-3456-7891，身份证11010519491231002x，手机13812345678"
    masked = redact(text)
    assert "****7890" in masked and "****7891" in masked and "****002X" in masked and "****5678" in masked
    assert not re.search(r"\d{5,}", re.sub(r"\*{4}\d{4}", "", masked))
    keep = "请于2026-11-22 18:00前致电95588，或访问网点；退款 12000 元；编号CF-20261122-7K3Q9M"
    assert redact(keep) == keep
    assert mask_free_text("  \r\n ") is None and mask_free_text(None) is None
    assert mask_free_text("请补充\u202e材料\x00") == "请补充材料"


def test_multipart_boundary_is_chosen_and_never_in_the_parts(make_event: EventFactory) -> None:
    lookalike = "客户写道：--===============1234567890123456789== 请核实"
    rendered = render_email(
        make_event(EventKind.resolved, details={"outcome": lookalike}),
        mail_from="Complaints Service <complaints@bank.example>",
        reply_to=None,
        bank_timezone="Asia/Shanghai",
        message_id_domain="bank.example",
    )
    boundary = rendered.message.get_boundary()
    assert boundary is not None and boundary.startswith("=" * 15)
    again = _wire(rendered)
    assert again.get_boundary() == boundary
    assert [part.get_content_type() for part in again.iter_parts()] == ["text/plain", "text/html"]
    assert "客户写道" in again.get_body(("plain",)).get_content()


# --- the wire bytes (services/notifier/mime.py) -------------------------------------------------------------

EXPECTED_FIELDS = {
    "from", "to", "reply-to", "subject", "date", "message-id", "auto-submitted",
    "x-auto-response-suppress", "x-complaint-number", "mime-version", "content-type", "content-language",
}  # fmt: skip


@pytest.mark.parametrize("language", [Language.zh, Language.en])
@pytest.mark.parametrize("kind", KINDS)
def test_every_rendered_email_is_7bit_with_short_lines(
    make_event: EventFactory, kind: EventKind, language: Language
) -> None:
    rendered = render_email(make_event(kind, language=language, details=DETAILS), **MAIL)
    data = rendered.wire.data
    assert data.isascii()
    assert max(len(line) for line in _lines(data)) <= 78
    wire = _wire(rendered)
    threading = set() if kind == EventKind.acknowledged else {"in-reply-to", "references"}
    assert {name.lower() for name in wire} == EXPECTED_FIELDS | threading
    assert wire["Subject"] == rendered.subject
    assert [part.get_content_type() for part in wire.iter_parts()] == ["text/plain", "text/html"]
    assert rendered.wire.sender == "complaints@bank.example"
    assert rendered.wire.recipients == ("zhang.wei@example.cn",) and not rendered.wire.needs_smtputf8


DISPLAY_NAMES = [
    "张伟",
    "欧阳娜娜",
    "Emma Clarke",
    "Clarke, Emma (Ms.)",
    "Dr. Emma J. Clarke",
    "José Müller-Lüdenscheidt",
    "王 Emma",
    "=?utf-8?q?not-an-encoded-word?=",
]


@pytest.mark.parametrize("name", DISPLAY_NAMES)
def test_display_names_decode_back_exactly(make_event: EventFactory, name: str) -> None:
    rendered = render_email(make_event(customer=Customer(name=name, email="zhang.wei@example.cn")), **MAIL)
    assert rendered.wire.data.isascii()
    (address,) = _wire(rendered)["To"].addresses
    assert (address.display_name, address.addr_spec) == (name, "zhang.wei@example.cn")
    (address,) = rendered.message["To"].addresses
    assert address.display_name == name


@pytest.mark.parametrize("name", ["欧阳" * 40, "Émile " * 12, "José Müller-Lüdenscheidt von Hohenzollern 王小明"])
def test_long_display_names_are_split_into_encoded_words_that_decode_back(name: str) -> None:
    field = mime.address_list("To", [(name, "ouyang@example.cn")])
    assert field.isascii() and max(len(line) for line in _lines(field)) <= 78
    unfolded = field.removeprefix("To:").removesuffix("\r\n").replace("\r\n", "")
    phrase, _, address = unfolded.rpartition(" ")
    assert address == "<ouyang@example.cn>"
    # RFC 2047 drops the space between adjacent encoded-words, as email.header does; email.headerregistry keeps
    # it inside a phrase, so the check decodes the phrase with email.header.
    assert str(make_header(decode_header(phrase))) == " ".join(name.split())
    assert _parse_fields(field)["To"].addresses[0].addr_spec == "ouyang@example.cn"


SUBJECTS = [
    f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉",
    f"[{COMPLAINT_NUMBER}] We need some more information about your complaint",
    f"[{COMPLAINT_NUMBER}] " + "您的投诉处理结果通知，请查收。" * 10,
    f"[{COMPLAINT_NUMBER}] " + ", ".join(["An unusually long subject about your complaint"] * 5),
    f"Re: [{COMPLAINT_NUMBER}] José's reply 回复 =?utf-8?q?x?= " + "x" * 120 + " 😀 end",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_are_folded_and_decode_back_exactly(subject: str) -> None:
    field = mime.unstructured("Subject", subject)
    assert field.isascii()
    lines = _lines(field)
    assert lines[-1] == "" and all(line.startswith(" ") for line in lines[1:-1])
    assert max(len(line) for line in lines) <= 78
    assert _parse_fields(field)["Subject"] == subject


def test_english_subject_stays_readable() -> None:
    field = mime.unstructured("Subject", f"[{COMPLAINT_NUMBER}] We have received your complaint")
    assert field == f"Subject: [{COMPLAINT_NUMBER}] We have received your complaint\r\n"
    field = mime.unstructured("Subject", f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉")
    assert field.startswith(f"Subject: [{COMPLAINT_NUMBER}] =?utf-8?b?")


def test_line_breaks_in_values_cannot_start_a_field() -> None:
    evil = f"[{COMPLAINT_NUMBER}] 投诉\r\nBcc: attacker@evil.example\r\n\r\nbody\nX-Evil: 1\rX-Also: 2\x00"
    for field in (
        mime.unstructured("Subject", evil),
        mime.unstructured("X-Complaint-Number", "CF-1\nBcc: x@evil.example"),
        mime.address_list("To", [(evil, "a@example.cn")]),
        mime.address_list("To", [("Zhang\r\nBcc: attacker@evil.example", "a@example.cn")]),
    ):
        lines = _lines(field)
        assert lines[-1] == "" and all(line.startswith(" ") for line in lines[1:-1])
        parsed = _parse_fields(field)
        assert parsed["Bcc"] is None and parsed["X-Evil"] is None and parsed["X-Also"] is None
        assert len(parsed.keys()) == 1
    assert _parse_fields(mime.unstructured("Subject", "a\r\nBcc: b"))["Subject"] == "a Bcc: b"
    for value in ("<a@b>\r\nBcc: x@y.z", "auto-generated\n", "All\rX: 1", "two  spaces", ""):
        with pytest.raises(ValueError):
            mime.field("Auto-Submitted", value)


BODIES = [
    "Dear Emma,\n\nShort ASCII lines go as they are.\n",
    "A long ASCII line that a 7-bit part could not carry unfolded. " * 3 + "\n",
    "尊敬的张伟：\n\n感谢您向我们反映问题。您的投诉已受理。\n" * 6,
    "Dear 张伟,\r\nCRLF\rlone CR\n.\n. dot\nFrom the bank\ntrailing spaces   \n\ttab\n=3D is not an escape\n"
    + "x" * 120,
    "",
    "\n\n\n",
    "form feed \x0c and \x1c separators stay in the line\n",
]


@pytest.mark.parametrize("body", BODIES)
def test_bodies_decode_to_what_set_content_keeps(body: str) -> None:
    reference = EmailMessage()
    reference.set_content(body)
    data = mime.multipart_alternative([mime.field("Message-ID", "<a@b>")], body, body)
    assert data.isascii() and max(len(line) for line in _lines(data)) <= 78
    wire = message_from_bytes(data, policy=policy.default)
    for part in wire.iter_parts():
        assert part.get_content().replace("\r\n", "\n") == reference.get_content()  # type: ignore[attr-defined]


def test_body_transfer_encodings_follow_the_text() -> None:
    def encodings(text: str) -> list[str]:
        wire = message_from_bytes(mime.multipart_alternative([], text, text), policy=policy.default)
        return [part["Content-Transfer-Encoding"] for part in wire.iter_parts()]  # type: ignore[attr-defined]

    assert encodings(BODIES[0]) == ["7bit", "7bit"]
    assert encodings(BODIES[1]) == ["quoted-printable"] * 2  # mostly ASCII: stays readable
    assert encodings(BODIES[2]) == ["base64"] * 2  # Chinese: base64 is smaller


def test_boundary_is_never_in_an_unencoded_part(monkeypatch: pytest.MonkeyPatch) -> None:
    digits = len(repr(sys.maxsize - 1))
    taken = f"{'=' * 15}{1:0{digits}d}=="
    text = f"The customer wrote:\n--{taken}\nplease check.\n"  # ASCII with short lines: goes unencoded
    draws = iter([1, 2])
    monkeypatch.setattr(mime.random, "randrange", lambda _: next(draws))
    wire = message_from_bytes(mime.multipart_alternative([], text, "<p>ok</p>"), policy=policy.default)
    assert wire.get_boundary() == f"{'=' * 15}{2:0{digits}d}=="
    plain, html = wire.iter_parts()  # type: ignore[attr-defined]
    assert plain.get_content().replace("\r\n", "\n") == text and html.get_content().strip() == "<p>ok</p>"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("<CAB123@mail.example.cn>", True),
        ("  <CAB+123=x@mail.example.cn>\n", True),
        ("CAB123@mail.example.cn", False),
        ("<CAB123>", False),
        ("<a b@mail.example.cn>", False),
        ("<邮件@例子.中国>", False),
        ("<a@b>\r\nBcc: x@y.z", False),
        ("<a@b><c@d>", False),
        ("<a@b> (comment)", False),
        ("<" + "a" * 500 + "@" + "b" * 500 + ">", False),
        ("", False),
    ],
)
def test_in_reply_to_and_references_only_when_valid(make_event: EventFactory, value: str, kept: bool) -> None:
    wire = _wire(render_email(make_event(details={"in_reply_to": value}), **MAIL))
    if kept:
        assert wire["In-Reply-To"] == value.strip() == wire["References"]
    else:
        assert wire["In-Reply-To"] is None and wire["References"] is None
    assert {name.lower() for name in wire} - EXPECTED_FIELDS == ({"in-reply-to", "references"} if kept else set())


def test_non_ascii_address_goes_as_utf8_and_needs_smtputf8(make_event: EventFactory) -> None:
    rendered = render_email(make_event(customer=Customer(name="张伟", email="张伟@例子.中国")), **MAIL)
    wire = rendered.wire
    assert wire.needs_smtputf8
    assert (wire.sender, wire.recipients) == ("complaints@bank.example", ("张伟@例子.中国",))
    assert "To: =?utf-8?b?5byg5Lyf?= <张伟@例子.中国>\r\n".encode() in wire.data
    assert wire.data.replace("张伟@例子.中国".encode(), b"").isascii()  # the rest stays 7-bit
    for parsed in (message_from_string(wire.data.decode(), policy=policy.default), rendered.message):
        (address,) = parsed["To"].addresses
        assert (address.display_name, address.addr_spec) == ("张伟", "张伟@例子.中国")
        assert parsed["Subject"] == f"[{COMPLAINT_NUMBER}] 我们已受理您的投诉"


def test_local_part_that_is_not_a_dot_atom_is_quoted(make_event: EventFactory) -> None:
    rendered = render_email(make_event(customer=Customer(name="Li Na", email="li(na)@example.cn")), **MAIL)
    assert rendered.wire.recipients == ('"li(na)"@example.cn',)
    (address,) = _wire(rendered)["To"].addresses
    assert (address.display_name, address.username, address.domain) == ("Li Na", "li(na)", "example.cn")


@pytest.mark.parametrize(
    "address",
    ["a@exa(mple).cn", "a@[1.2.3.4", "a@b:c.cn", "a@b\\c.cn", "a\x00b@example.cn", "x" * 250 + "@example.cn"],
)
def test_addresses_a_reader_would_take_differently_are_invalid(make_event: EventFactory, address: str) -> None:
    with pytest.raises(InvalidRecipient):
        render_email(make_event(customer=Customer(email=address)), **MAIL)


def test_configured_sender_and_reply_addresses() -> None:
    assert mime.address_list("From", [("投诉服务中心", "complaints@bank.example")]) == (
        "From: =?utf-8?b?5oqV6K+J5pyN5Yqh5Lit5b+D?= <complaints@bank.example>\r\n"
    )
    field = mime.address_list("Reply-To", [("Bank, Complaints", "help@bank.example"), ("", "tousu@bank.example")])
    assert field == 'Reply-To: "Bank, Complaints" <help@bank.example>, tousu@bank.example\r\n'
    assert [a.display_name for a in _parse_fields(field)["Reply-To"].addresses] == ["Bank, Complaints", ""]
