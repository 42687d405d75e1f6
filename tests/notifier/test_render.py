from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from schemas import CUSTOMER_FACING_EVENTS, Customer, EventKind, Language, Severity
from services.notifier.examples import render_examples
from services.notifier.masking import mask_free_text, mask_numbers
from services.notifier.render import InvalidRecipient, RenderedEmail, render_email, render_sms

from .conftest import COMPLAINT_NUMBER, EMMA, ZHANG_WEI, EventFactory

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


def _wire(rendered: RenderedEmail):
    return message_from_bytes(rendered.message.as_bytes(), policy=policy.default)


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
    assert re.fullmatch(r"<evt_[0-9a-f]{24}\.email@bank\.example>", first.message_id)
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
    masked = mask_numbers(text)
    assert "****7890" in masked and "****7891" in masked and "****1002" in masked and "****5678" in masked
    assert not re.search(r"\d{5,}", re.sub(r"\*{4}\d{4}", "", masked))
    keep = "请于2026-11-22 18:00前致电95588，或访问网点；退款 12000 元；编号CF-20261122-7K3Q9M"
    assert mask_numbers(keep) == keep
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
