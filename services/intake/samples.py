"""Real-looking raw messages for every channel, for the demo, the tests and the benchmarks.

``*_email()`` functions return RFC 5322 bytes; ``*_envelope()`` functions return the value that
would sit on ``complaints.raw.<channel>`` (RawEnvelope JSON bytes). Names, numbers and addresses
are invented; card and ID numbers are made up but pass their checksums, as real ones would.
"""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime
from email.header import Header
from typing import Any

from domain.message_ids import social_message_id
from schemas import Channel, RawEnvelope

RECEIVED_AT = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai
ACK_MESSAGE_ID = "<ack.cmp_3f1c2a9e.1732242000@bank.example>"
SAMPLE_COMPLAINT_NUMBER = "CF-20261121-7K3Q9M"
VALID_CARD = "6222021234567894"  # Luhn-valid, UnionPay-like
VALID_VISA = "4111111111111111"
VALID_RESIDENT_ID = "11010519491231002X"


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _header(text: str, charset: str) -> str:
    return Header(text, charset).encode()


def envelope(
    channel: Channel | str,
    message_id: str,
    *,
    payload: dict[str, Any] | None = None,
    raw_email: bytes | None = None,
    received_at: datetime = RECEIVED_AT,
    source: str | None = None,
    envelope_from: str | None = None,
) -> bytes:
    """RawEnvelope JSON bytes as a channel adapter would produce them."""
    record = RawEnvelope(
        channel=Channel(channel),
        message_id=message_id,
        received_at=received_at,
        source=source or {"email": "smtp", "social": "webhook"}.get(str(channel), "http"),
        payload=payload,
        payload_base64=base64.b64encode(raw_email).decode("ascii") if raw_email is not None else None,
        envelope_from=envelope_from,
        envelope_to=["tousu@bank.example"] if raw_email is not None else [],
    )
    return record.model_dump_json().encode("utf-8")


# --- e-mail ---------------------------------------------------------------------------------------


def gbk_email() -> bytes:
    """Chinese complaint labelled gb2312 but using GBK-only characters (喆), base64 body, RFC 2047 headers."""
    body = (
        "您好：\r\n\r\n"
        "我是贵行信用卡持卡人王喆，卡号 6222 0212 3456 7894。2026年11月20日晚上我收到短信提醒，"
        "卡片在境外被连续盗刷三笔，合计人民币 52,380.00 元，但卡一直在我身上。\r\n"
        "我当晚就打了95533挂失，客服说要等调查，到现在没有任何回复。请尽快冻结并退还被盗刷的款项，"
        "否则我将向金融监管部门投诉。\r\n\r\n"
        "联系电话：138 1234 5678\r\n"
        "身份证号：11010519491231002X\r\n\r\n"
        "王喆\r\n"
    )
    return (
        "From: " + _header("王喆", "gbk") + " <wangzhe1988@163.com>\r\n"
        "To: tousu@bank.example\r\n"
        "Subject: " + _header("信用卡被盗刷5万多元，要求退款", "gb2312") + "\r\n"
        "Date: Sat, 21 Nov 2026 23:41:07 +0800\r\n"
        "Message-ID: <20261121234107.4f2a@163.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="gb2312"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n" + _b64(body.encode("gbk"))
    ).encode("ascii")


def big5_email() -> bytes:
    """Traditional Chinese complaint in Big5, quoted-printable."""
    body = (
        "敬啟者：\r\n\r\n"
        "本人於11月18日在貴行尖沙咀分行臨櫃辦理匯款港幣 HK$12,000 至內地帳戶，"
        "至今對方仍未收到款項，櫃員亦無法說明原因。請盡快查明並回覆。\r\n\r\n"
        "陳大文\r\n電話：+852 9123 4567\r\n"
    )
    return (
        "From: " + _header("陳大文", "big5") + " <taiman.chan@example.com.hk>\r\n"
        "To: complaints@bank.example\r\n"
        "Subject: " + _header("匯款延誤投訴", "big5") + "\r\n"
        "Date: Fri, 20 Nov 2026 16:02:11 +0800\r\n"
        "Message-ID: <big5-0001@mail.example.com.hk>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=big5\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
    ).encode("ascii") + quopri.encodestring(body.encode("big5"))


def html_only_email() -> bytes:
    """English complaint sent as HTML only (quoted-printable), with a tracking script and styles."""
    html = (
        "<html><head><style>p { font-family: Arial; }</style></head><body>"
        "<p>Dear Sir or Madam,</p>"
        "<p>On 14 November your ATM at the Nanjing Road branch kept my debit card and did not dispense the "
        "<b>$400</b> I asked for, yet my account was debited. I reported it at the counter the next morning "
        "and was told to wait. It has now been a week.</p>"
        "<p>Please refund the money and return my card. You can reach me on +86 139 1111 2222.</p>"
        "<script>track('open')</script>"
        "<p>Regards,<br>Emily Carter</p></body></html>"
    )
    return (
        b"From: Emily Carter <emily.carter@example.org>\r\n"
        b"To: complaints@bank.example\r\n"
        b"Subject: ATM kept my card and did not dispense cash\r\n"
        b"Date: Sat, 21 Nov 2026 09:15:00 -0500\r\n"
        b"Message-ID: <CAF=html.only.001@mail.example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n" + quopri.encodestring(html.encode("utf-8"))
    )


def multipart_with_attachment_email() -> bytes:
    """English multipart/mixed: text and HTML alternatives plus a PDF statement attachment."""
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    return (
        b'From: "Li, Michael" <michael.li@example.com>\r\n'
        b"To: complaints@bank.example\r\n"
        b"Subject: Unexplained annual fee on my credit card\r\n"
        b"Date: Thu, 19 Nov 2026 20:11:45 +0000\r\n"
        b"Message-ID: <mixed.0042@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n'
        b"\r\n--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="alt"\r\n'
        b"\r\n--alt\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Hello,\r\n\r\nMy October statement shows an annual fee of RMB 680 on card ending 1111, "
        b"although the branch promised the fee would be waived for the first year.\r\n"
        b"The statement is attached.\r\n\r\n"
        b"Michael Li\r\n"
        b"\r\n--alt\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello,</p><p>My October statement shows an annual fee of RMB 680 ...</p>\r\n"
        b"--alt--\r\n"
        b"\r\n--outer\r\n"
        b'Content-Type: application/pdf; name="statement-2026-10.pdf"\r\n'
        b'Content-Disposition: attachment; filename="statement-2026-10.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(pdf).encode("ascii") + b"--outer--\r\n"
    )


def out_of_office_email() -> bytes:
    """An Outlook out-of-office answer to one of our acknowledgements."""
    return (
        "From: Zhang Min <zhang.min@corp.example.cn>\r\n"
        "To: complaints@bank.example\r\n"
        "Subject: " + _header("自动回复: 您的投诉已受理", "utf-8") + "\r\n"
        "Date: Sun, 22 Nov 2026 10:40:00 +0800\r\n"
        "Message-ID: <ooo.778@corp.example.cn>\r\n"
        f"In-Reply-To: {ACK_MESSAGE_ID}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "X-Auto-Response-Suppress: All\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "我正在休假，11月30日返回，期间邮件不能及时回复。I am out of the office until 30 November.\r\n"
    ).encode("utf-8")


def bounce_email() -> bytes:
    """A delivery failure report for one of our notifications."""
    return (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        b"To: complaints@bank.example\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Date: Sun, 22 Nov 2026 03:00:00 +0000\r\n"
        b"Message-ID: <bounce.1@mx.example.net>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n"
        b"\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n"
        b"\r\nFinal-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"\r\n--b--\r\n"
    )


def reply_to_ack_email(complaint_number: str = SAMPLE_COMPLAINT_NUMBER) -> bytes:
    """A customer's follow-up to our acknowledgement: new text on top, our mail quoted below."""
    return (
        "From: " + _header("王喆", "utf-8") + " <wangzhe1988@163.com>\r\n"
        "To: complaints@bank.example\r\n"
        "Subject: " + _header(f"回复：您的投诉已受理 [{complaint_number}]", "utf-8") + "\r\n"
        "Date: Sun, 22 Nov 2026 11:02:00 +0800\r\n"
        "Message-ID: <20261122110200.9c1d@163.com>\r\n"
        f"In-Reply-To: {ACK_MESSAGE_ID}\r\n"
        f"References: <20261121234107.4f2a@163.com> {ACK_MESSAGE_ID}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "补充一下：今天早上又被扣了一笔 8,000 元，请马上处理！\r\n"
        "\r\n"
        "在 2026年11月22日 10:05，客户服务中心 <complaints@bank.example> 写道：\r\n"
        "> 尊敬的客户：您的投诉已受理，投诉编号 " + complaint_number + "。\r\n"
        "> 我们将在15日内答复。\r\n"
    ).encode("utf-8")


def satisfaction_reply_email(score: str = "5分", complaint_number: str = SAMPLE_COMPLAINT_NUMBER) -> bytes:
    """A one-line answer to our satisfaction question, sent from a phone."""
    return (
        "From: Emily Carter <emily.carter@example.org>\r\n"
        "To: complaints@bank.example\r\n"
        f"Subject: Re: How did we do? [{complaint_number}]\r\n"
        "Date: Mon, 30 Nov 2026 08:00:00 +0800\r\n"
        "Message-ID: <sat.0001@mail.example.org>\r\n"
        "In-Reply-To: <survey.cmp_3f1c2a9e@bank.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{score}\r\n\r\nSent from my iPhone\r\n\r\n"
        "On 29 Nov 2026, at 18:00, Complaints Service <complaints@bank.example> wrote:\r\n"
        "> Please reply with a score from 1 (poor) to 5 (excellent).\r\n"
    ).encode()


def mislabelled_utf8_email() -> bytes:
    """Declares gb2312, is really UTF-8, 8-bit body and an unencoded 8-bit subject."""
    return (
        "From: 李娜 <lina@example.cn>\r\n"
        "To: tousu@bank.example\r\n"
        "Subject: 网点排队两个小时\r\n"
        "Date: Sat, 21 Nov 2026 15:00:00 +0800\r\n"
        "Message-ID: <mislabelled.1@example.cn>\r\n"
        "Content-Type: text/plain; charset=gb2312\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "周六上午在人民路支行排队两个小时，只开了一个窗口，大堂经理态度很差。\r\n"
    ).encode()


def forwarded_email() -> bytes:
    """A son forwards his elderly father's mail (message/rfc822 attached) with a note on top."""
    inner = (
        "From: " + _header("刘建国", "utf-8") + " <liujianguo1950@126.com>\r\n"
        "To: liu.yang@example.com\r\n"
        "Subject: " + _header("银行卖给我的是保险", "utf-8") + "\r\n"
        "Date: Tue, 17 Nov 2026 09:00:00 +0800\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "儿子，去年在银行存的20万说是存款，今天才知道是分红保险，现在取出来要损失两万多。\r\n"
    ).encode("utf-8")
    return (
        b"From: Liu Yang <liu.yang@example.com>\r\n"
        b"To: complaints@bank.example\r\n"
        b"Subject: Fwd: =?utf-8?b?" + base64.b64encode("银行卖给我的是保险".encode()) + b"?=\r\n"
        b"Date: Wed, 18 Nov 2026 21:30:00 +0800\r\n"
        b"Message-ID: <fwd.55@example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="f"\r\n'
        b"\r\n--f\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + "我父亲今年76岁，被理财经理误导买了保险，请核实处理。\r\n".encode()
        + b"\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n"
        + inner
        + b"\r\n--f--\r\n"
    )


def email_envelope(raw: bytes, message_id: str | None = None) -> bytes:
    from services.intake.email_parser import parse_email  # local: samples must stay importable alone

    return envelope(Channel.email, message_id or parse_email(raw).message_id or "<unknown@local>", raw_email=raw)


# --- web form -------------------------------------------------------------------------------------


def webform_payload_en() -> dict[str, Any]:
    return {
        "submission_id": "wf-2026-11-22-000184",
        "name": "Daniel Okafor",
        "email": "Daniel.Okafor@example.co.uk",
        "phone": "+44 7911 123456",
        "product": "Personal loan",
        "subject": "Early repayment charge not disclosed",
        "description": (
            "I repaid my personal loan early on 2 November and was charged an early repayment fee of "
            "$1,250.00 that was never mentioned when I signed. My account number is 6217000012345678901. "
            "Please refund the fee or show me where it was disclosed. <script>alert('x')</script>"
        ),
        "amount": "1250.00",
        "currency": "USD",
        "preferred_contact": "email",
        "language": "en",
        "consent": True,
    }


def webform_payload_zh() -> dict[str, Any]:
    return {
        "submission_id": "wf-2026-11-22-000185",
        "name": "赵敏",
        "phone": "13912345678",
        "customer_id": "C0091823",
        "card_last4": "7894",
        "product": "手机银行",
        "description": (
            "手机银行APP升级后一直无法登录，提示“系统繁忙”，已经三天了，工资卡里的钱转不出来，"
            "房租两万元逾期要交违约金。客服电话一直打不通。"
        ),
        "preferred_contact": "sms",
        "consent": True,
    }


def webform_envelope_en() -> bytes:
    payload = webform_payload_en()
    return envelope(Channel.webform, payload["submission_id"], payload=payload)


def webform_envelope_zh() -> bytes:
    payload = webform_payload_zh()
    return envelope(Channel.webform, payload["submission_id"], payload=payload)


# --- hotline --------------------------------------------------------------------------------------


def _turn(speaker: str, text: str, start_s: float, end_s: float, confidence: float) -> dict[str, Any]:
    return {"speaker": speaker, "text": text, "start_s": start_s, "end_s": end_s, "confidence": confidence}


def hotline_payload_zh() -> dict[str, Any]:
    return {
        "call_id": "CALL-20261122-0931-88412",
        "caller_number": "13698765432",
        "agent_id": "A1043",
        "started_at": "2026-11-22T09:31:05+08:00",
        "duration_s": 412.5,
        "language": "zh",
        "turns": [
            _turn("agent", "您好，这里是客服中心，请问有什么可以帮您？", 0.0, 3.2, 0.97),
            _turn("customer", "我昨天在柜台办业务，那个柜员态度特别差，我问了两遍她就不耐烦了。", 3.5, 9.8, 0.91),
            _turn("agent", "非常抱歉给您带来不好的体验，请问是哪个网点？", 10.0, 12.6, 0.95),
            _turn("customer", "人民路支行。还有她多收了我五十元手续费，说是工本费。", 13.0, 18.4, 0.88),
        ],
        "agent_summary": "客户投诉人民路支行柜员服务态度差并多收工本费50元，要求道歉退费。",
        "disposition": "complaint_logged",
    }


def hotline_payload_en() -> dict[str, Any]:
    return {
        "call_id": "CALL-20261122-1405-10277",
        "caller_number": "+1 415 555 0132",
        "agent_id": "E207",
        "started_at": "2026-11-22T14:05:00+08:00",
        "duration_s": 198,
        "language": "en",
        "turns": [
            _turn("agent", "Thank you for calling, how can I help?", 0, 2.5, 0.93),
            _turn("customer", "uh my wire transfer of twenty thousand dollars uh", 2.8, 7.0, 0.41),
            _turn("customer", "it never arrived, USD 20,000 sent on the tenth", 7.2, 11.0, 0.52),
        ],
        "agent_summary": "Outbound wire of USD 20,000 not received by beneficiary; trace requested.",
        "disposition": "trace_opened",
    }


def hotline_envelope_zh() -> bytes:
    payload = hotline_payload_zh()
    return envelope(Channel.hotline, payload["call_id"], payload=payload)


def hotline_envelope_en() -> bytes:
    payload = hotline_payload_en()
    return envelope(Channel.hotline, payload["call_id"], payload=payload)


# --- social ---------------------------------------------------------------------------------------


def social_payload_weibo() -> dict[str, Any]:
    return {
        "platform": "weibo",
        "post_id": "4973201188812345",
        "author_handle": "小鱼爱理财",
        "author_display_name": "小鱼爱理财",
        "follower_count": 182_000,
        "text": (
            "#银行乱收费# 某银行信用卡莫名其妙扣了我680元年费，当初办卡时说好首年免年费！"
            "打客服电话等了40分钟没人接，大家评评理 @银行官方微博"
        ),
        "url": "https://weibo.com/1234567890/NabcDEF12",
        "created_at": "2026-11-22T08:12:00+08:00",
        "is_public": True,
        "repost_count": 356,
        "like_count": 2140,
        "is_direct_message": False,
    }


def social_payload_x() -> dict[str, Any]:
    return {
        "platform": "x",
        "post_id": "1861234567890123456",
        "author_handle": "@sam_travels",
        "author_display_name": "Sam",
        "follower_count": 850,
        "text": "Your app has been down for 3 days and I can't pay my rent. Worst bank ever. Fix it!",
        "url": "https://x.com/sam_travels/status/1861234567890123456",
        "created_at": "2026-11-22T01:00:00Z",
        "is_public": False,
        "repost_count": 0,
        "like_count": 0,
        "is_direct_message": True,
    }


def social_envelope_weibo() -> bytes:
    payload = social_payload_weibo()
    return envelope(Channel.social, social_message_id("weibo", payload["post_id"]), payload=payload)


def social_envelope_x() -> bytes:
    payload = social_payload_x()
    return envelope(Channel.social, social_message_id("x", payload["post_id"]), payload=payload)


# --- all ------------------------------------------------------------------------------------------


def sample_emails() -> dict[str, bytes]:
    return {
        "gbk": gbk_email(),
        "big5": big5_email(),
        "html_only": html_only_email(),
        "multipart_attachment": multipart_with_attachment_email(),
        "out_of_office": out_of_office_email(),
        "bounce": bounce_email(),
        "reply_to_ack": reply_to_ack_email(),
        "satisfaction": satisfaction_reply_email(),
        "mislabelled_utf8": mislabelled_utf8_email(),
        "forwarded": forwarded_email(),
    }


def sample_envelopes() -> dict[str, bytes]:
    """Every sample as the Kafka value its channel adapter would publish."""
    envelopes = {f"email.{name}": email_envelope(raw) for name, raw in sample_emails().items()}
    envelopes.update(
        {
            "webform.en": webform_envelope_en(),
            "webform.zh": webform_envelope_zh(),
            "hotline.zh": hotline_envelope_zh(),
            "hotline.en": hotline_envelope_en(),
            "social.weibo": social_envelope_weibo(),
            "social.x": social_envelope_x(),
        }
    )
    return envelopes


# --- SMS ------------------------------------------------------------------------------------------

SMS_TEXT_ZH = "你好，我的信用卡昨天在网上被扣了两笔3999元，我没有消费过，请帮我查一下并退款。"
