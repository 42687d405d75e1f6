"""normalize(): raw envelope bytes to a complaint, an auto-reply or a rejection, for every channel."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from email.message import EmailMessage

import pytest

from schemas import Attachment, Channel, ContactChannel, Language, SourcePointer, complaint_id_for, complaint_number_for
from services.intake import samples
from services.intake.channels.base import AutoReply, Normalized, Rejected, describe_attachments, satisfaction_score_of
from services.intake.channels.sms import InboundSms
from services.intake.envelopes import encode, json_envelope
from services.intake.normalize import normalize

POINTER = SourcePointer(topic="complaints.raw.email", partition=3, offset=1042)


def _normalized(value: bytes, pointer: SourcePointer | None = None) -> Normalized:
    result = normalize(value, pointer)
    assert isinstance(result, Normalized), result
    return result


def test_gbk_email_complaint() -> None:
    result = _normalized(samples.email_envelope(samples.gbk_email()), POINTER)
    complaint = result.complaint
    assert complaint.channel == Channel.email
    assert complaint.channel_ref == "<20261121234107.4f2a@163.com>"
    assert complaint.complaint_id == complaint_id_for(Channel.email, "<20261121234107.4f2a@163.com>")
    # received 02:30 UTC on 22 Nov = 10:30 in Shanghai: numbered on the bank's local date
    assert complaint.complaint_number == complaint_number_for(complaint.complaint_id, date(2026, 11, 22))
    assert complaint.received_at == samples.RECEIVED_AT and complaint.received_at.tzinfo == UTC
    assert complaint.source_timezone == "+08:00"
    assert complaint.language == Language.zh
    assert complaint.subject == "信用卡被盗刷5万多元，要求退款"
    assert "6222 0212 3456 7894" in complaint.text
    assert "6222" not in complaint.redacted_text and "[CARD ****7894]" in complaint.redacted_text
    assert "[ID ****002X]" in complaint.redacted_text and "13812345678" not in complaint.redacted_text
    assert complaint.customer.name == "王喆"
    assert complaint.customer.email == "wangzhe1988@163.com"
    assert complaint.customer.phone == "+8613812345678"
    assert complaint.customer.card_last4 == "7894"
    assert complaint.customer.preferred_contact == ContactChannel.email
    assert complaint.amount is not None and complaint.amount.amount == Decimal("52380.00")
    assert complaint.raw == POINTER
    assert complaint.email is not None and complaint.email.message_id == "<20261121234107.4f2a@163.com>"
    assert result.reply_to_message_ids == () and result.satisfaction_score is None


def test_bank_timezone_decides_the_number_date() -> None:
    late = samples.envelope(
        Channel.webform,
        "wf-late",
        payload=samples.webform_payload_zh(),
        received_at=datetime(2026, 11, 21, 17, 30, tzinfo=UTC),  # 01:30 on 22 Nov in Shanghai
    )
    shanghai = _normalized(late).complaint
    assert shanghai.complaint_number.startswith("CF-20261122-")
    london = normalize(late, bank_timezone="Europe/London")
    assert isinstance(london, Normalized) and london.complaint.complaint_number.startswith("CF-20261121-")
    bogus = normalize(late, bank_timezone="Not/AZone")  # falls back to UTC+8 rather than failing
    assert isinstance(bogus, Normalized) and bogus.complaint.complaint_number.startswith("CF-20261122-")


def test_reply_to_acknowledgement() -> None:
    result = _normalized(samples.email_envelope(samples.reply_to_ack_email()))
    assert result.reply_to_message_ids == (samples.ACK_MESSAGE_ID, "<20261121234107.4f2a@163.com>")
    assert result.subject_complaint_number == samples.SAMPLE_COMPLAINT_NUMBER
    assert result.complaint.text == "补充一下：今天早上又被扣了一笔 8,000 元，请马上处理！"
    assert result.complaint.email is not None and result.complaint.email.in_reply_to == samples.ACK_MESSAGE_ID
    assert result.satisfaction_score is None


def test_complaint_number_only_from_subject_and_normalized() -> None:
    raw = samples.reply_to_ack_email("cf-20261121-7k3q9o")
    result = _normalized(samples.email_envelope(raw))
    assert result.subject_complaint_number == "CF-20261121-7K3Q90"  # O typed for 0
    body_only = samples.gbk_email().replace(b"Subject:", b"X-Old-Subject:")
    body_only = body_only.replace(b"\r\n\r\n", b"\r\nSubject: CF number in body only\r\n\r\n", 1)
    assert _normalized(samples.email_envelope(body_only)).subject_complaint_number is None


@pytest.mark.parametrize(
    ("score_text", "score"), [("5分", 5), ("5", 5), ("满意 4", 4), ("3/5", 3), ("五星", 5), ("Rating: 2", 2)]
)
def test_satisfaction_replies(score_text: str, score: int) -> None:
    result = _normalized(samples.email_envelope(samples.satisfaction_reply_email(score_text)))
    assert result.satisfaction_score == score


def test_satisfaction_score_parsing() -> None:
    assert satisfaction_score_of("4") == 4
    assert satisfaction_score_of("6") is None
    assert satisfaction_score_of("I give it 5 but the branch was slow") is None
    assert satisfaction_score_of("") is None


def test_a_number_in_a_fresh_mail_is_not_a_score() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\nMessage-ID: <n@x>\r\n\r\n5\r\n"
    assert _normalized(samples.email_envelope(raw)).satisfaction_score is None


def test_auto_replies_are_recognised() -> None:
    result = normalize(samples.email_envelope(samples.out_of_office_email()))
    assert result == AutoReply(
        "<ooo.778@corp.example.cn>",
        "Auto-Submitted: auto-replied",
        "corp.example.cn",
        (samples.ACK_MESSAGE_ID,),
    )
    bounce = normalize(samples.email_envelope(samples.bounce_email()))
    assert isinstance(bounce, AutoReply) and bounce.sender_domain == "mx.example.net"


def test_forwarded_and_attachments_and_html() -> None:
    forwarded = _normalized(samples.email_envelope(samples.forwarded_email())).complaint
    assert "forwarded" in forwarded.flags and forwarded.email is not None and forwarded.email.forwarded
    assert "分红保险" in forwarded.text
    with_pdf = _normalized(samples.email_envelope(samples.multipart_with_attachment_email())).complaint
    assert [a.filename for a in with_pdf.attachments] == ["statement-2026-10.pdf"]
    assert with_pdf.amount is not None and with_pdf.amount.amount == Decimal("680.00")
    html = _normalized(samples.email_envelope(samples.html_only_email())).complaint
    assert "html_only" in html.flags and html.language == Language.en
    assert html.source_timezone == "-05:00"


def test_email_with_empty_body_uses_subject_or_is_rejected() -> None:
    raw = b"From: a@example.com\r\nSubject: Re: ATM swallowed my card\r\nMessage-ID: <e@x>\r\n\r\n   \r\n"
    assert _normalized(samples.email_envelope(raw)).complaint.text == "ATM swallowed my card"
    empty = b"From: a@example.com\r\nMessage-ID: <e2@x>\r\n\r\n\r\n"
    assert normalize(samples.email_envelope(empty)) == Rejected("empty complaint text", "empty_text")


def test_english_webform() -> None:
    complaint = _normalized(samples.webform_envelope_en()).complaint
    assert complaint.channel_ref == "wf-2026-11-22-000184"
    assert complaint.language == Language.en
    assert complaint.amount is not None and (complaint.amount.amount, complaint.amount.currency) == (
        Decimal("1250.00"),
        "USD",
    )
    assert "<script>" not in complaint.text and "alert" not in complaint.text
    assert "markup_removed" in complaint.flags
    assert "6217000012345678901" in complaint.text
    assert "[ACCOUNT ****8901]" in complaint.redacted_text
    assert complaint.customer.preferred_contact == ContactChannel.email
    assert complaint.subject == "Early repayment charge not disclosed"
    assert complaint.product == "Personal loan"


def test_chinese_webform_detects_language_and_extracts_amount() -> None:
    complaint = _normalized(samples.webform_envelope_zh()).complaint
    assert complaint.language == Language.zh
    assert complaint.amount is not None and complaint.amount.amount == Decimal("20000.00")
    assert complaint.customer.phone == "+8613912345678"
    assert complaint.customer.preferred_contact == ContactChannel.sms
    assert complaint.customer.customer_id == "C0091823" and complaint.customer.card_last4 == "7894"


def test_invalid_webform_is_rejected_without_personal_data() -> None:
    payload = {**samples.webform_payload_zh(), "card_last4": "6222021234567894", "consent": False}
    result = normalize(samples.envelope(Channel.webform, "wf-bad", payload=payload))
    assert isinstance(result, Rejected) and result.error_type == "validation_error"
    assert "card_last4" in result.reason and "consent" in result.reason
    assert "6222" not in result.reason and "13912345678" not in result.reason


def test_chinese_hotline_uses_customer_turns_only() -> None:
    complaint = _normalized(samples.hotline_envelope_zh()).complaint
    assert complaint.text == (
        "我昨天在柜台办业务，那个柜员态度特别差，我问了两遍她就不耐烦了。\n人民路支行。还有她多收了我五十元手续费，说是工本费。"
    )
    assert "客服中心" not in complaint.text
    assert complaint.customer.phone == "+8613698765432"
    assert complaint.customer.preferred_contact == ContactChannel.sms
    assert complaint.amount is not None and complaint.amount.amount == Decimal("50.00")
    hotline = complaint.hotline
    assert hotline is not None and hotline.call_id == "CALL-20261122-0931-88412"
    assert hotline.agent_summary is not None and hotline.agent_summary.startswith("客户投诉")
    assert hotline.asr_confidence == pytest.approx(0.895) and not hotline.low_confidence
    assert "low_asr_confidence" not in complaint.flags
    assert complaint.source_timezone == "+08:00"


def test_low_confidence_hotline_is_flagged_not_dropped() -> None:
    complaint = _normalized(samples.hotline_envelope_en()).complaint
    assert complaint.hotline is not None and complaint.hotline.low_confidence
    assert "low_asr_confidence" in complaint.flags
    assert "never arrived" in complaint.text
    assert complaint.amount is not None and complaint.amount.amount == Decimal("20000.00")


def test_hotline_without_customer_words_is_rejected() -> None:
    payload = samples.hotline_payload_zh()
    payload["turns"] = [t for t in payload["turns"] if t["speaker"] == "agent"]
    result = normalize(samples.envelope(Channel.hotline, payload["call_id"], payload=payload))
    assert result == Rejected("empty complaint text", "empty_text")


def test_public_weibo_post() -> None:
    complaint = _normalized(samples.social_envelope_weibo()).complaint
    assert complaint.channel_ref == "weibo:4973201188812345"
    assert complaint.customer.social_platform == "weibo" and complaint.customer.social_handle == "小鱼爱理财"
    assert complaint.customer.phone is None and complaint.customer.email is None
    assert complaint.customer.preferred_contact == ContactChannel.social
    assert complaint.social is not None and complaint.social.public and complaint.social.followers == 182_000
    assert "public_post" in complaint.flags
    assert complaint.amount is not None and complaint.amount.amount == Decimal("680.00")


def test_direct_message_is_not_public() -> None:
    complaint = _normalized(samples.social_envelope_x()).complaint
    assert complaint.social is not None and not complaint.social.public
    assert "direct_message" in complaint.flags and complaint.language == Language.en


@pytest.mark.parametrize(
    ("value", "error_type"),
    [
        (b"not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"[]", "invalid_envelope"),
        (json.dumps({"channel": "fax", "message_id": "1"}).encode(), "invalid_envelope"),
        (
            json.dumps(
                {
                    "channel": "email",
                    "message_id": "m",
                    "received_at": "2026-11-22T10:00:00",
                    "source": "smtp",
                }
            ).encode(),
            "invalid_envelope",
        ),
    ],
)
def test_bad_envelopes(value: bytes, error_type: str) -> None:
    result = normalize(value)
    assert isinstance(result, Rejected) and result.error_type == error_type


def test_envelope_without_payload_or_bad_base64() -> None:
    no_payload = samples.envelope(Channel.webform, "wf-1")
    assert normalize(no_payload) == Rejected("webform envelope has no payload", "invalid_payload")
    email = json.loads(samples.email_envelope(samples.gbk_email()))
    email["payload_base64"] = "!!!not base64==="
    result = normalize(json.dumps(email).encode())
    assert isinstance(result, Rejected) and result.error_type in ("invalid_payload", "empty_text")
    del email["payload_base64"]
    assert normalize(json.dumps(email).encode()) == Rejected("email envelope has no payload_base64", "invalid_payload")


def test_redelivery_gives_the_same_complaint() -> None:
    first = _normalized(samples.email_envelope(samples.gbk_email())).complaint
    again = _normalized(samples.email_envelope(samples.gbk_email())).complaint
    assert first == again


def test_raw_email_bytes_survive_the_envelope() -> None:
    envelope = json.loads(samples.email_envelope(samples.big5_email()))
    assert base64.b64decode(envelope["payload_base64"]) == samples.big5_email()


WEB_FORM = {
    "name": "李娜",
    "email": "li.na@example.cn",
    "description": "信用卡年费被重复扣了两次，请退还多扣的680元。",
    "consent": True,
}


@pytest.mark.parametrize(
    "received_at",
    [
        datetime(9999, 12, 31, 20, 0, tzinfo=UTC),  # past the calendar's end in the bank's zone
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 20, tzinfo=UTC),  # weeks ahead of the reader's clock
        datetime(1969, 12, 31, tzinfo=UTC),
    ],
)
def test_a_received_time_out_of_reach_is_a_clear_refusal(received_at: datetime) -> None:
    value = encode(json_envelope(Channel.webform, "form-7c1d", WEB_FORM, "adapter", received_at=received_at))
    result = normalize(value, now=datetime(2026, 11, 22, 2, 30, tzinfo=UTC))
    assert isinstance(result, Rejected) and result.error_type == "validation_error", result
    assert "received_at" in result.reason and received_at.isoformat() in result.reason


def test_a_sender_clock_a_little_ahead_is_taken() -> None:
    now = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)
    ahead = now.replace(hour=9)
    value = encode(json_envelope(Channel.webform, "form-7c1e", WEB_FORM, "adapter", received_at=ahead))
    assert isinstance(normalize(value, now=now), Normalized)


def test_an_envelope_of_another_channel_on_a_raw_topic_is_refused() -> None:
    hotline = {"call_id": "CALL-20261122-0931", "caller_number": "13912345678", "turns": []}
    value = encode(json_envelope(Channel.hotline, "CALL-20261122-0931", hotline, "adapter"))
    result = normalize(value, expected_channel=Channel.webform)
    assert isinstance(result, Rejected) and result.error_type == "wrong_channel"
    assert "hotline envelope on the webform raw topic" in result.reason
    assert isinstance(
        normalize(encode(json_envelope(Channel.webform, "f-1", WEB_FORM, "adapter")), expected_channel=Channel.webform),
        Normalized,
    )


def _scan_letter_mail(subject: str | None) -> bytes:
    message = EmailMessage()
    message["From"] = "王芳 <wang.fang@example.cn>"
    message["To"] = "tousu@bank.example"
    message["Message-ID"] = "<scan-1@example.cn>"
    if subject is not None:
        message["Subject"] = subject
    message.set_content(
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 250_000, maintype="image", subtype="png", filename="投诉信.png"
    )
    return message.as_bytes()


@pytest.mark.parametrize("subject", [None, "", "投诉"])
def test_attachment_only_mail_is_a_complaint_that_lists_its_attachments(subject: str | None) -> None:
    complaint = _normalized(samples.email_envelope(_scan_letter_mail(subject))).complaint
    assert "attachment_only" in complaint.flags and "has_attachments" in complaint.flags
    assert "投诉信.png" in complaint.text and "image/png" in complaint.text and "244.1 KB" in complaint.text
    assert "仅有附件" in complaint.text and complaint.language == Language.zh
    assert complaint.text.startswith("投诉") if subject else complaint.text.startswith("（")
    assert complaint.customer.email == "wang.fang@example.cn" and "no_contact" not in complaint.flags
    assert complaint.amount is None


def test_attachment_listing_in_english_and_bounded() -> None:
    pdf = Attachment(filename="page.pdf", content_type="application/pdf", size=2_500_000, sha256="0" * 64)
    files = [pdf.model_copy(update={"filename": f"page{i}.pdf"}) for i in range(25)]
    listing = describe_attachments(files, "Complaint")
    assert listing.startswith("(No message text, attachments only) Attachments: page0.pdf (application/pdf, 2.4 MB)")
    assert listing.endswith("; and 5 more") and "page19.pdf" in listing and "page20.pdf" not in listing
    unnamed = pdf.model_copy(update={"filename": None, "content_type": "image/jpeg", "size": 12})
    assert describe_attachments([unnamed]).endswith("Attachments: - (image/jpeg, 12 B)")


def test_mail_with_text_and_attachment_is_not_attachment_only() -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["Message-ID"] = "<t@x>"
    message.set_content("My card was charged twice for the same purchase, please refund.")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="statement.pdf")
    complaint = _normalized(samples.email_envelope(message.as_bytes())).complaint
    assert "attachment_only" not in complaint.flags and "statement.pdf" not in complaint.text


@pytest.mark.parametrize("caller", ["withheld", None, "anonymous", "12", "+86 000"])
def test_hotline_caller_without_usable_number_is_flagged_no_contact(caller: str | None) -> None:
    payload = samples.hotline_payload_zh()
    payload["caller_number"] = caller
    complaint = _normalized(samples.envelope(Channel.hotline, payload["call_id"], payload=payload)).complaint
    assert complaint.customer.phone is None and "no_contact" in complaint.flags


def test_reachable_customers_are_not_flagged_no_contact() -> None:
    for value in (
        samples.hotline_envelope_zh(),
        samples.social_envelope_weibo(),
        samples.email_envelope(samples.gbk_email()),
    ):
        assert "no_contact" not in _normalized(value).complaint.flags


def test_non_public_social_message_is_a_direct_message_without_the_dm_field() -> None:
    payload = samples.social_payload_weibo()
    payload["is_public"] = False
    payload.pop("is_direct_message", None)
    complaint = _normalized(samples.envelope(Channel.social, f"weibo:{payload['post_id']}", payload=payload)).complaint
    assert complaint.social is not None and not complaint.social.public
    assert "direct_message" in complaint.flags and "public_post" not in complaint.flags


def _sms_envelope(body: dict[str, object]) -> bytes:
    sms = InboundSms.model_validate(body)
    return samples.envelope(
        Channel.sms, f"sms:{sms.message_id}", payload=sms.model_dump(mode="json", exclude_none=True)
    )


def test_inbound_sms_names_its_complaint_and_its_sender() -> None:
    result = _normalized(
        _sms_envelope(
            {
                "message_id": "SM7f3a9c01",
                "from": "+86 138 1234 5678",
                "text": "回复 cf-20261122-7k3q9m：转账凭证已经发到邮箱了，卡号6222 0212 3456 7890",
                "received_at": "2026-11-23 09:15:02",
            }
        )
    )
    complaint = result.complaint
    assert complaint.channel == Channel.sms and complaint.channel_ref == "sms:SM7f3a9c01"
    assert complaint.customer.phone == "+8613812345678" and complaint.customer.preferred_contact == ContactChannel.sms
    assert result.thread_by_sender and result.text_complaint_number == "CF-20261122-7K3Q9M"
    assert "0212 3456" not in complaint.redacted_text and "7890" in complaint.redacted_text
    assert complaint.source_timezone == "+08:00" and "no_contact" not in complaint.flags


def test_inbound_sms_in_other_gateways_shapes() -> None:
    twilio = InboundSms.model_validate({"MessageSid": "SM1", "From": "+14155550132", "Body": "5", "AccountSid": "AC1"})
    assert (twilio.message_id, twilio.sender, twilio.text) == ("SM1", "+14155550132", "5")
    aliyun = InboundSms.model_validate(
        {"sequence_id": 1234567, "phone_number": "13698765432", "content": "满意", "send_time": "2026-11-23 10:00:00"}
    )
    assert aliyun.message_id == "1234567" and aliyun.sender == "13698765432"
    score = _normalized(_sms_envelope({"id": "m-9", "sender": "13698765432", "text": "5分"}))
    assert score.satisfaction_score == 5 and score.text_complaint_number is None
    unknown = _normalized(_sms_envelope({"id": "m-10", "sender": "BANKPROMO", "text": "hello, my card is blocked"}))
    assert unknown.complaint.customer.phone is None and "no_contact" in unknown.complaint.flags


def test_big5_mail_labelled_gb2312_becomes_a_readable_complaint_flagged_charset_mismatch() -> None:
    raw = samples.big5_email().replace(b"charset=big5", b"charset=gb2312")
    complaint = _normalized(samples.email_envelope(raw)).complaint
    assert "尖沙咀分行" in complaint.text and "charset_mismatch" in complaint.flags
    assert "charset_mismatch" not in _normalized(samples.email_envelope(samples.big5_email())).complaint.flags
