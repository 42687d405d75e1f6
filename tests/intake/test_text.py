"""Text hygiene and contact normalisation helpers."""

from __future__ import annotations

from schemas import Language
from services.intake.contacts import normalize_email_address, to_e164
from services.intake.text import MAX_TEXT_CHARS, clean_text, detect_language, html_to_text, neutralise_markup


def test_html_to_text_drops_scripts_styles_and_tags() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body><p>您好，ATM<b>吞卡</b>了</p>"
        "<script>steal()</script><!-- hidden --><p>Call 1. now</p><a href='https://x.example'>link</a></body></html>"
    )
    text = clean_text(html_to_text(html))
    assert "您好，ATM吞卡了" in text and "Call 1. now" in text and "link" in text
    for leftover in ("steal", "color:red", "hidden", "<", "https://x.example"):
        assert leftover not in text


def test_clean_text() -> None:
    assert clean_text("ｔｅｓｔ１２３\u3000＠ｅｘ．ｃｏｍ") == "test123 @ex.com"
    assert clean_text("他说：“好的，”然后走了。") == "他说：“好的，”然后走了。"  # Chinese punctuation kept
    assert clean_text("a\u200bb\u202ec\x00d\r\n\r\n\r\n\r\ne  \t f") == "abcd\n\ne f"
    assert len(clean_text("字" * 50_000)) == MAX_TEXT_CHARS


def test_neutralise_markup() -> None:
    assert neutralise_markup("<script>alert(1)</script>退款<b>三千</b>元") == "退款三千元"
    assert neutralise_markup("&lt;img src=x onerror=alert(1)&gt;hi") == "hi"
    assert neutralise_markup("amount < 100 and > 50") == "amount < 100 and > 50"
    assert "<" not in neutralise_markup("&amp;lt;&amp;lt;b&amp;gt;&amp;gt;x")


def test_detect_language() -> None:
    assert detect_language("我的ATM卡被吞了") == Language.zh
    assert detect_language("My name is 张伟 and the ATM kept my card") == Language.en
    assert detect_language("我在ATM取款, the machine kept my card and 没有吐钞") == Language.mixed
    assert detect_language("12345") == Language.zh
    assert detect_language("12345", default=Language.en) == Language.en


def test_to_e164() -> None:
    assert to_e164("138 1234 5678") == "+8613812345678"
    assert to_e164("008613812345678") == "+8613812345678"
    assert to_e164("１３８１２３４５６７８") == "+8613812345678"
    assert to_e164("010-62345678") == "+861062345678"
    assert to_e164("+1 415 555 0132") == "+14155550132"
    assert to_e164("(415) 555-0132", default_region="US") == "+14155550132"
    for bad in ("12345", "anonymous", "", None, "+" + "9" * 40):
        assert to_e164(bad) is None


def test_normalize_email_address() -> None:
    assert normalize_email_address('"张伟" <Zhang.Wei@163.COM>') == "zhang.wei@163.com"
    assert normalize_email_address("mailto:li@example.cn") == "li@example.cn"
    assert normalize_email_address("x@例子.中国") == "x@xn--fsqu00a.xn--fiqs8s"
    for bad in ("zhang@", "a@b", "a..b@example.com", "no at sign", "", None, "a@-bad-.com"):
        assert normalize_email_address(bad) is None
