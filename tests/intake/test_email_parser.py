"""Mail parsing: charsets, MIME structure, forwarded and quoted text, auto-replies, hostile input."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from services.intake import samples
from services.intake.email_parser import decode_bytes, decode_header_value, parse_email, split_reply

RECEIVED = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)


def _mail(headers: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        "From: Test <t@example.com>\r\nTo: tousu@bank.example\r\nMessage-ID: <t.1@example.com>\r\n"
        + headers
        + f"Content-Type: {content_type}\r\n\r\n"
    ).encode() + body


def test_gbk_mail_labelled_gb2312_with_rfc2047_headers() -> None:
    parsed = parse_email(samples.gbk_email())
    assert parsed.subject == "信用卡被盗刷5万多元，要求退款"
    assert parsed.from_name == "王喆"  # 喆 exists in GBK, not in GB2312
    assert parsed.from_address == "wangzhe1988@163.com"
    assert "持卡人王喆" in parsed.text and "52,380.00" in parsed.text
    assert parsed.message_id == "<20261121234107.4f2a@163.com>"
    assert parsed.date == datetime(2026, 11, 21, 15, 41, 7, tzinfo=UTC)
    assert parsed.utc_offset == "+08:00"
    assert parsed.auto_reply is None and not parsed.forwarded


def test_big5_quoted_printable() -> None:
    parsed = parse_email(samples.big5_email())
    assert parsed.subject == "匯款延誤投訴"
    assert parsed.from_name == "陳大文"
    assert "尖沙咀分行" in parsed.text and "HK$12,000" in parsed.text


def test_declared_gb2312_really_utf8_and_8bit_header() -> None:
    parsed = parse_email(samples.mislabelled_utf8_email())
    assert parsed.subject == "网点排队两个小时"
    assert parsed.from_name == "李娜"
    assert parsed.text == "周六上午在人民路支行排队两个小时，只开了一个窗口，大堂经理态度很差。"
    assert parsed.charset_mismatch


def test_undeclared_8bit_gb18030_and_unknown_charset() -> None:
    body = "我的存折被冻结了".encode("gb18030")
    assert parse_email(_mail("", body, "text/plain")).text == "我的存折被冻结了"
    assert parse_email(_mail("", body, "text/plain; charset=x-no-such-charset")).text == "我的存折被冻结了"
    # a bytes-to-bytes codec name must not be used as a charset
    assert parse_email(_mail("", b"plain words", "text/plain; charset=base64")).text == "plain words"


def test_decode_bytes_fallbacks() -> None:
    assert decode_bytes("中文".encode(), "gb2312") == ("中文", True)
    assert decode_bytes("中文".encode("gbk"), "gb2312") == ("中文", False)
    assert decode_bytes("café".encode("latin-1"), None)[0] == "café"
    assert decode_bytes(b"\xff\xfe\xfa", "utf-8")[0]  # latin-1 always decodes


def test_rfc2047_header_with_bogus_charset_and_raw_utf8() -> None:
    assert decode_header_value("=?gb2312?B?" + base64.b64encode("投诉".encode("gbk")).decode() + "?=") == "投诉"
    assert decode_header_value("=?x-unknown?Q?abc?=") == "abc"
    assert decode_header_value(None) == ""


def test_html_only_mail_becomes_clean_text() -> None:
    parsed = parse_email(samples.html_only_email())
    assert parsed.html_only
    assert "did not dispense the $400" in parsed.text
    assert "track(" not in parsed.text and "font-family" not in parsed.text and "<p>" not in parsed.text
    assert parsed.utc_offset == "-05:00"


def test_multipart_alternative_prefers_plain_and_records_attachment() -> None:
    parsed = parse_email(samples.multipart_with_attachment_email())
    assert parsed.text.startswith("Hello,\n\nMy October statement shows an annual fee of RMB 680")
    assert "..." not in parsed.text  # the HTML alternative was not used
    assert len(parsed.attachments) == 1
    attachment = parsed.attachments[0]
    assert attachment.filename == "statement-2026-10.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size > 0 and len(attachment.sha256) == 64
    assert "%PDF" not in parsed.text


def test_alternative_with_empty_plain_uses_html() -> None:
    raw = _mail(
        "MIME-Version: 1.0\r\n",
        b"--a\r\nContent-Type: text/plain\r\n\r\n \r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Your ATM swallowed <b>my card</b></p>\r\n--a--\r\n",
        'multipart/alternative; boundary="a"',
    )
    assert parse_email(raw).text == "Your ATM swallowed my card"


def test_rfc2047_attachment_filename() -> None:
    name = "=?utf-8?B?" + base64.b64encode("对账单.pdf".encode()).decode() + "?="
    raw = _mail(
        "MIME-Version: 1.0\r\n",
        b"--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xe8\xaf\xb7\xe6\x9f\xa5\xe7\x9c\x8b\r\n"
        b'--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
        + name.encode()
        + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--m--\r\n',
        'multipart/mixed; boundary="m"',
    )
    parsed = parse_email(raw)
    assert parsed.text == "请查看"
    assert parsed.attachments[0].filename == "对账单.pdf"
    assert parsed.attachments[0].size == 5


def test_forwarded_message_rfc822_keeps_content() -> None:
    parsed = parse_email(samples.forwarded_email())
    assert parsed.forwarded
    assert "我父亲今年76岁" in parsed.text
    assert "---------- Forwarded message ----------" in parsed.text
    assert "From: 刘建国 <liujianguo1950@126.com>" in parsed.text
    assert "分红保险" in parsed.text
    assert parsed.new_text == "我父亲今年76岁，被理财经理误导买了保险，请核实处理。"


def test_inline_forward_markers() -> None:
    for marker in (
        "---------- Forwarded message ---------",
        "-----Original Message-----",
        "------ 转发的邮件 ------",
    ):
        parsed = parse_email(_mail("", f"请处理\r\n\r\n{marker}\r\n原投诉：柜员态度差\r\n".encode()))
        assert parsed.forwarded, marker
        assert "柜员态度差" in parsed.text
        assert parsed.new_text == "请处理"


def test_reply_keeps_new_part_and_headers_for_threading() -> None:
    parsed = parse_email(samples.reply_to_ack_email())
    assert parsed.text == "补充一下：今天早上又被扣了一笔 8,000 元，请马上处理！"
    assert parsed.in_reply_to == samples.ACK_MESSAGE_ID
    assert parsed.references == ["<20261121234107.4f2a@163.com>", samples.ACK_MESSAGE_ID]


def test_split_reply_english_and_unmarked_quote() -> None:
    text, new, forwarded = split_reply(
        "Still no refund.\n\nOn Sun, 22 Nov 2026 at 10:05, Complaints <c@bank.example> wrote:\n> Dear customer"
    )
    assert (text, new, forwarded) == ("Still no refund.", "Still no refund.", False)
    text, _, _ = split_reply("Still waiting.\n在 2026-11-22 10:05，客服中心 写道：\n您好，您的投诉已受理。")
    assert text == "Still waiting."
    text, new, _ = split_reply("> quoted only\n> more")
    assert text == "" and new == ""


def test_out_of_office_and_other_auto_replies() -> None:
    assert parse_email(samples.out_of_office_email()).auto_reply == "Auto-Submitted: auto-replied"
    assert parse_email(samples.bounce_email()).auto_reply.startswith("delivery report")  # type: ignore[union-attr]
    cases = {
        "X-Autoreply: yes\r\n": "x-autoreply header present",
        "Precedence: bulk\r\n": "Precedence: bulk",
        "Subject: Out of Office: re your complaint\r\n": "auto-reply subject",
        "Subject: =?utf-8?b?" + base64.b64encode("自动回复：休假中".encode()).decode() + "?=\r\n": "auto-reply subject",
    }
    for header, reason in cases.items():
        assert parse_email(_mail(header, b"I am away")).auto_reply == reason, header
    assert parse_email(_mail("Auto-Submitted: no\r\n", b"real complaint")).auto_reply is None
    postmaster = b"From: postmaster@mx.example.net\r\nSubject: failure\r\n\r\nbounced"
    assert parse_email(postmaster).auto_reply == "sent by postmaster"


def test_date_fallback_to_received_at() -> None:
    assert parse_email(_mail("Date: not a date\r\n", b"x"), RECEIVED).date == RECEIVED
    assert parse_email(_mail("", b"x"), RECEIVED).date == RECEIVED
    assert parse_email(_mail("", b"x")).date is None


def test_hostile_structure_is_bounded() -> None:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(1000))
    parsed = parse_email(_mail("MIME-Version: 1.0\r\n", parts + b"--b--\r\n", 'multipart/mixed; boundary="b"'))
    assert parsed.truncated
    assert parsed.text.count("part") < 250
    nested = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" * 300
    assert isinstance(parse_email(nested).text, str)


def test_garbage_never_raises() -> None:
    for raw in (
        b"",
        b"\x00\xff" * 100,
        b"From: \r\n\r\n",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
    ):
        assert isinstance(parse_email(raw).text, str)


# --- GB and Big5 read as each other -----------------------------------------------------------------------------

TRADITIONAL = (
    "本人於11月18日在貴行尖沙咀分行臨櫃辦理匯款港幣 HK$12,000 至內地帳戶，至今對方仍未收到款項，櫃員亦無法說明原因。"
)
SIMPLIFIED = "我的信用卡被盗刷了三笔，共计一万二千元，银行客服一直没有处理，请尽快回复并退还款项。"


def test_big5_labelled_gb2312_is_read_as_big5_and_flagged() -> None:
    parsed = parse_email(
        _mail(
            "Subject: =?gb2312?B?" + base64.b64encode("匯款延誤投訴".encode("big5")).decode() + "?=\r\n",
            TRADITIONAL.encode("big5"),
            "text/plain; charset=gb2312",
        )
    )
    assert parsed.text == TRADITIONAL
    assert parsed.subject == "匯款延誤投訴"
    assert parsed.charset_mismatch


def test_a_mislabelled_subject_alone_is_flagged_too() -> None:
    subject = "Subject: =?gb2312?B?" + base64.b64encode("匯款延誤投訴".encode("big5")).decode() + "?=\r\n"
    parsed = parse_email(_mail(subject, b"plain ASCII body", "text/plain; charset=us-ascii"))
    assert parsed.subject == "匯款延誤投訴" and parsed.charset_mismatch
    assert not parse_email(samples.gbk_email()).charset_mismatch  # GBK labelled gb2312: the superset, no mismatch


def test_gbk_labelled_big5_is_read_as_gbk_and_flagged() -> None:
    assert decode_bytes(SIMPLIFIED.encode("gbk"), "big5") == (SIMPLIFIED, True)
    assert decode_bytes(SIMPLIFIED.encode("gbk"), "iso-8859-1") == (SIMPLIFIED, True)  # a client's Latin-1 default


def test_correctly_labelled_chinese_and_latin_text_is_left_alone() -> None:
    assert decode_bytes(SIMPLIFIED.encode("gbk"), "gb2312") == (SIMPLIFIED, False)
    assert decode_bytes(TRADITIONAL.encode("big5"), "big5") == (TRADITIONAL, False)
    assert decode_bytes("持卡人王喆、张伟".encode("gbk"), "gb2312") == (
        "持卡人王喆、张伟",
        False,
    )  # rare but real names
    assert decode_bytes("Crédit refusé, frais prélevés à tort".encode("latin-1"), "iso-8859-1")[1] is False


def test_mojibake_that_no_charset_repairs_is_still_flagged() -> None:
    # Shift_JIS labelled gb2312: neither Chinese reading is plausible; the text is kept, the complaint flagged.
    _text, mismatch = decode_bytes(
        "お客様の口座から不正に引き落とされました。至急ご確認ください。".encode("shift_jis"), "gb2312"
    )
    assert mismatch
