"""Text hygiene shared by every channel: HTML to text, cleaning, inert markup, language detection.

Every function here is total: any ``str`` in, a ``str`` (or a ``Language``) out, never an exception.
"""

from __future__ import annotations

import contextlib
import html
import re
import unicodedata
from functools import lru_cache

import html2text

from schemas import Language

MAX_TEXT_CHARS = 20_000
# html2text is a pure-Python parser: bound its input so a hostile 10 MB HTML part stays cheap.
MAX_HTML_CHARS = 1_000_000
MAX_HTML2TEXT_CHARS = 100_000

_SCRIPT_STYLE_RE = re.compile(r"<(script|style|head|noscript|template)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.I | re.S)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>|<![A-Za-z][^<>]*>|<\?[^<>]*>")
_BLOCK_TAG_RE = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\b[^>]*>", re.I)

# Controls except TAB and LF, zero-width and bidi-override characters (used to hide or reorder text),
# lone surrogates left by lenient decoders, and non-characters.
_INVISIBLE_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff\ufffe\uffff]"
)
_SPACES_RE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_MANY_NEWLINES_RE = re.compile(r"\n{3,}")

# NFKC on whole Chinese text would turn full-width punctuation （，。：） into ASCII and change how the
# text reads; only the full-width ASCII letters, digits and the symbols that matter for numbers,
# e-mail addresses and amounts are folded.
_FULLWIDTH_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}  # ０-９
_FULLWIDTH_FOLD.update({cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)})  # Ａ-Ｚ
_FULLWIDTH_FOLD.update({cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)})  # ａ-ｚ
_FULLWIDTH_FOLD.update({ord(c): ord(a) for c, a in zip("＠＋－＄＃％＆＿／．", "@+-$#%&_/.", strict=True)})
_FULLWIDTH_FOLD[0xFFE5] = ord("¥")  # ￥
_FULLWIDTH_FOLD[0x3000] = ord(" ")  # ideographic space
_FULLWIDTH_FOLD[0x2028] = ord("\n")
_FULLWIDTH_FOLD[0x2029] = ord("\n")

# Characters real Chinese text is made of: the 3,755 level-1 characters of GB2312 (simplified) and the 5,401
# common characters of Big5 (traditional), CJK and full-width punctuation. Big5 bytes read as GBK (or the
# reverse) decode without error but give rare characters, kana, Greek, Cyrillic, box drawing: few of these.
_MIN_JUDGED_CHARS = 4
_PLAUSIBILITY_SAMPLE_CHARS = 2_000  # the start of a text tells its charset; judging more only costs time
_PLAUSIBLE_EXTRA = frozenset("“”‘’…—–·•　、。〈〉《》「」『』【】〔〕〖〗")


@lru_cache(maxsize=1)
def _common_chinese() -> frozenset[str]:
    chars: set[str] = set(_PLAUSIBLE_EXTRA)
    chars.update(chr(cp) for cp in range(0xFF01, 0xFF5F))  # full-width ASCII forms (，：！？（）)
    for lead in range(0xB0, 0xD8):  # GB2312 level 1
        for trail in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                chars.add(bytes((lead, trail)).decode("gb2312"))
    for lead in range(0xA4, 0xC7):  # Big5 common characters, A440-C67E
        for trail in (*range(0x40, 0x7F), *range(0xA1, 0xFF)):
            if (lead << 8 | trail) <= 0xC67E:
                with contextlib.suppress(UnicodeDecodeError):
                    chars.add(bytes((lead, trail)).decode("big5"))
    return frozenset(chars)


def chinese_plausibility(text: str, min_chars: int = _MIN_JUDGED_CHARS) -> float | None:
    """Share of the text's non-ASCII characters that common Chinese text is made of (0..1); None when there are
    too few non-ASCII characters to judge. Real Chinese scores near 1, GBK/Big5 mojibake about 0.5 or less."""
    judged = [c for c in text[:_PLAUSIBILITY_SAMPLE_CHARS] if ord(c) > 0x7F and not c.isspace()]
    if len(judged) < min_chars:
        return None
    common = _common_chinese()
    return sum(c in common for c in judged) / len(judged)


_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_LATIN_RE = re.compile(r"[A-Za-z]")


def _html2text_converter() -> html2text.HTML2Text:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    converter.ignore_links = True
    converter.unicode_snob = True
    converter.single_line_break = False
    return converter


def _strip_tags_fallback(markup: str) -> str:
    markup = _BLOCK_TAG_RE.sub("\n", markup)
    return html.unescape(_TAG_RE.sub(" ", markup))


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document: scripts, styles and comments removed, links kept as text.

    The result is not yet cleaned (see :func:`clean_text`); quoted blocks come out prefixed with ``>``.
    """
    try:
        markup = markup[:MAX_HTML_CHARS]
        markup = _COMMENT_RE.sub("", _SCRIPT_STYLE_RE.sub("", markup))
        if len(markup) > MAX_HTML2TEXT_CHARS:  # html2text costs ~1.5 ms per KB; a tag strip is linear
            return _strip_tags_fallback(markup)
        try:
            text = _html2text_converter().handle(markup)
        except Exception:  # html2text trips over some broken markup; a tag strip is good enough then
            text = _strip_tags_fallback(markup)
        # html2text escapes markdown characters such as "1\." or "\-"; the text is not markdown here.
        return re.sub(r"\\([\\`*_{}\[\]()#+\-.!>])", r"\1", text)
    except Exception:
        return ""


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Normalise line ends and spacing, fold full-width ASCII, drop invisible characters, cap the length."""
    try:
        if not text:
            return ""
        text = text[: max_chars * 4]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = unicodedata.normalize("NFC", _INVISIBLE_RE.sub("", text)).translate(_FULLWIDTH_FOLD)
        lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
        text = _MANY_NEWLINES_RE.sub("\n\n", "\n".join(lines)).strip()
        if len(text) > max_chars:
            text = text[:max_chars].rstrip()
        return text
    except Exception:
        return ""


def neutralise_markup(text: str) -> str:
    """Make HTML or script typed into a form inert: drop script/style blocks and tags, decode entities.

    What is left is plain text; anything that still looks like markup after decoding (``&lt;b&gt;``)
    is stripped too, so no consumer that forgets to escape can be made to render it.
    """
    try:
        if "<" not in text and "&" not in text:
            return text
        for _ in range(2):
            text = _COMMENT_RE.sub("", _SCRIPT_STYLE_RE.sub("", text))
            text = _BLOCK_TAG_RE.sub("\n", text)
            text = html.unescape(_TAG_RE.sub("", text))
        if _TAG_RE.search(text):  # markup escaped three times over: defuse the brackets themselves
            text = text.replace("<", "‹").replace(">", "›")
        return text
    except Exception:
        return ""


def detect_language(text: str, default: Language = Language.zh) -> Language:
    """zh, en or mixed from the share of CJK characters among letters.

    A Chinese character carries about as much as a short English word, so Latin letters count a third.
    No letters at all (only digits or symbols) yields ``default``.
    """
    try:
        sample = text[:4000]
        cjk = len(_CJK_RE.findall(sample))
        latin = len(_LATIN_RE.findall(sample))
        if cjk == 0 and latin == 0:
            return default
        share = cjk / (cjk + latin / 3)
        if share >= 0.7:
            return Language.zh
        if share <= 0.3:
            return Language.en
        return Language.mixed
    except Exception:
        return default
