"""RFC 5322 mail to the parts a complaint needs, for any bytes a mail server may hand over.

``parse_email`` never raises. Hostile input is bounded: at most :data:`MAX_PARTS` MIME parts are
walked, nesting deeper than :data:`MAX_DEPTH` is ignored, and decoded text is capped.

Charsets: the part's declared charset is tried after UTF-8 when the bytes are valid UTF-8 with
non-ASCII content (mail often declares gb2312 or latin-1 and is really UTF-8; valid UTF-8 by chance
is vanishingly rare for other encodings), GB2312/GBK are read as their superset GB18030 and Big5 as
Big5-HKSCS, and then UTF-8, GB18030, Big5 and Latin-1 are tried in turn; Latin-1 always succeeds.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from schemas import Attachment
from services.intake.text import MAX_TEXT_CHARS, chinese_plausibility, clean_text, html_to_text

MAX_PARTS = 200
MAX_DEPTH = 12
MAX_DECODED_CHARS = 200_000
MAX_HEADER_CHARS = 2_000
MAX_REFERENCES = 50

_FALLBACK_CHARSETS = ("utf-8", "gb18030", "big5hkscs", "latin-1")
_CHARSET_UPGRADES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "cp950": "big5hkscs",
    "x-big5": "big5hkscs",
    "us-ascii": "latin-1",
    "ascii": "latin-1",
    "iso-8859-1": "cp1252",  # mail labelled Latin-1 is nearly always Windows-1252 (curly quotes, €)
    "latin-1": "cp1252",
    "latin1": "cp1252",
}

_MESSAGE_ID_RE = re.compile(r"<([!-;=?-~]{1,500})>")  # printable ASCII without < and >
_COMPLAINT_SUBJECT_PREFIX_RE = re.compile(r"^\s*((?:re|fw|fwd|aw|sv|答复|回复|回覆|转发|轉寄)\s*[:：]\s*)+", re.I)
_FORWARD_SUBJECT_RE = re.compile(r"^\s*(?:fw|fwd|转发|轉寄)\s*[:：]", re.I)
_AUTO_SUBJECT_RE = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|antwort)|autoreply|auto:|out of (?:the )?office|"
    r"on leave|vacation|自动回复|自動回覆|自動回复|自动答复|休假|不在办公室|"
    r"delivery status notification|undeliverable|undelivered mail|returned mail|"
    r"mail delivery (?:failed|system)|"
    r"failure notice|退信|系统退信)",
    re.I,
)
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_BULK_PRECEDENCE = frozenset({"bulk", "auto_reply", "junk", "list"})

_FORWARD_MARKER_RE = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message)\s*-{2,}|begin forwarded message:|"
    r"-*\s*(?:转发的邮件|原始邮件|轉寄的郵件|原始郵件|转发邮件信息)\s*-*)\s*$",
    re.I | re.M,
)
_ATTRIBUTION_RE = re.compile(
    r"^\s*(?:on\s.{1,300}?\swrote\s*:|在\s?.{1,300}?写道\s*[:：]|於\s?.{1,300}?寫道\s*[:：]|.{1,300}于.{1,100}写道\s*[:：])\s*$",
    re.I,
)
_SIGNATURE_RE = re.compile(r"^(?:-- ?|sent from my \w+.*|发自我的\w+.*|從我的\s?\w+\s?傳送)$", re.I)


@dataclass
class ParsedEmail:
    """What a complaint needs from one mail. ``text`` is the complaint text; ``new_text`` is only what
    the sender wrote above any quote or forwarded block (used to read a satisfaction score)."""

    subject: str | None = None
    from_name: str | None = None
    from_address: str | None = None
    to: list[str] = field(default_factory=list)
    date: datetime | None = None
    utc_offset: str | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    text: str = ""
    new_text: str = ""
    html_only: bool = False
    forwarded: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply: str | None = None
    charset_mismatch: bool = False
    truncated: bool = False
    defects: list[str] = field(default_factory=list)
    # Authentication-Results headers, top (added last, by the receiving server) first.
    authentication_results: list[str] = field(default_factory=list)


# --- decoding -------------------------------------------------------------------------------------


def _is_text_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    # Codecs such as base64, rot13 or zlib are bytes-to-bytes transforms, not charsets.
    return info.name if getattr(info, "_is_text_encoding", True) else None


_CJK_CODECS = ("gb18030", "big5hkscs")
_SINGLE_BYTE_LATIN = ("cp1252", "latin-1", "iso8859-1", "ascii")
# A decoding is believed when nearly all its non-ASCII characters are common Chinese; it is replaced by the
# other CJK family's when that one is believable and clearly better, and doubted when it is this poor.
_PLAUSIBLE = 0.9
_BETTER_BY = 0.2
_DOUBTFUL = 0.6


def _other_cjk_reading(data: bytes, codec: str, text: str) -> tuple[str, str, bool]:
    """GB and Big5 bytes decode as each other without error (as mojibake). The reading of ``data`` whose
    characters are plausible Chinese, its codec, and whether the reading kept is still doubtful."""
    score = chinese_plausibility(text, min_chars=2)
    if score is None or score >= _PLAUSIBLE:
        return text, codec, False
    short = chinese_plausibility(text) is None  # two or three characters, e.g. a name: switch only when sure
    for other in _CJK_CODECS:
        if other == codec:
            continue
        try:
            candidate = data.decode(other)
        except (UnicodeDecodeError, LookupError):
            continue
        other_score = chinese_plausibility(candidate, min_chars=2)
        if other_score is None or other_score - score < _BETTER_BY:
            continue
        if other_score >= (1.0 if short else _PLAUSIBLE) and (not short or score <= 0.5):
            return candidate, other, False
    return text, codec, not short and score < _DOUBTFUL


def _chinese_behind_latin(data: bytes) -> tuple[str, str] | None:
    """Chinese mail labelled Latin-1 (a client's default): the CJK reading when it is plainly Chinese."""
    for codec in _CJK_CODECS:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
        score = chinese_plausibility(text)
        if score is not None and score >= 0.97 and sum(ord(c) > 0x2E7F for c in text) >= 8:
            return text, codec
    return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, bool]:
    """Text of ``data`` and whether the declared charset had to be abandoned or looks wrong. Never raises.

    GB and Big5 decode each other's bytes without error, so a CJK reading is checked for plausible Chinese
    (``chinese_plausibility``): Big5 labelled gb2312 is read as Big5 (and the reverse) when that is clearly
    right, and flagged either way.
    """
    declared_codec = None
    if declared:
        label = declared.strip().strip("\"'").lower()[:40]
        declared_codec = _is_text_codec(_CHARSET_UPGRADES.get(label, label))
    if data.isascii():
        return data.decode("ascii"), False
    attempts: list[str] = []
    if declared_codec not in ("utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        attempts.append("utf-8")
    if declared_codec:
        attempts.append(declared_codec)
        if declared_codec == "cp1252":  # the few bytes cp1252 leaves undefined: the label's own Latin-1
            attempts.append("latin-1")
    attempts.extend(_FALLBACK_CHARSETS)
    for codec in attempts:
        try:
            text = data.decode(codec)
        except (UnicodeDecodeError, LookupError, ValueError, TypeError):
            continue
        name = codecs.lookup(codec).name
        doubtful = False
        if name in _CJK_CODECS:
            text, name, doubtful = _other_cjk_reading(data, name, text)
        elif declared_codec in _SINGLE_BYTE_LATIN and name in _SINGLE_BYTE_LATIN:
            found = _chinese_behind_latin(data)
            if found:
                text, name = found
        expected = (declared_codec, "iso8859-1") if declared_codec == "cp1252" else (declared_codec,)
        mismatch = declared_codec is not None and (name not in expected or doubtful)
        return text, mismatch
    return data.decode("latin-1", errors="replace"), True  # unreachable: latin-1 decodes every byte


def decode_header_value(raw: object) -> str:
    """An RFC 2047 header as text, whatever charsets its encoded words claim. Never raises."""
    if raw is None:
        return ""
    try:
        value = str(raw)[: MAX_HEADER_CHARS * 2]
    except Exception:
        return ""
    try:
        pieces = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                pieces.append(decode_bytes(chunk, charset)[0])
            else:
                pieces.append(chunk)
        text = "".join(pieces)
    except Exception:
        text = value
    # An unencoded 8-bit header arrives as surrogate escapes; recover the bytes and decode them.
    text = _without_surrogates(text)
    return " ".join(text.split())[:MAX_HEADER_CHARS]


def _header_charset_mismatch(raw: object) -> bool:
    """Whether an encoded word of the header declares a charset its bytes are not in (Big5 labelled gb2312...)."""
    if raw is None or "=?" not in str(raw):
        return False
    try:
        return any(
            isinstance(chunk, bytes) and charset and decode_bytes(chunk, charset)[1]
            for chunk, charset in decode_header(str(raw)[: MAX_HEADER_CHARS * 2])
        )
    except Exception:
        return False


def _without_surrogates(text: str) -> str:
    """Text with the surrogate escapes of undecodable 8-bit header bytes decoded (or dropped)."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text
    if _is_surrogate_safe(text):
        text = decode_bytes(text.encode("utf-8", "surrogateescape"))[0]
    return "".join(c for c in text if not "\ud800" <= c <= "\udfff")


def _is_surrogate_safe(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False


def _raw_header(msg: Message, name: str) -> str | None:
    """The header's value without policy parsing, which can choke on malformed headers."""
    try:
        for key, value in msg.raw_items():
            if key.lower() == name:
                return str(value)
    except Exception:
        return None
    return None


def _all_raw_headers(msg: Message, name: str) -> list[str]:
    try:
        return [str(value) for key, value in msg.raw_items() if key.lower() == name]
    except Exception:
        return []


def _message_ids(raw: str | None) -> list[str]:
    if not raw:
        return []
    ids = _MESSAGE_ID_RE.findall(raw)
    bare = raw.strip().strip("<>")
    if not ids and bare and re.fullmatch(r"[!-;=?-~]{1,500}", bare):
        ids = [bare]
    return [f"<{mid}>" for mid in ids[:MAX_REFERENCES]]


def _parse_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(" ".join(raw.split())[:200])
    except Exception:
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1990 <= parsed.year <= 2200:
        return None
    return parsed


def _utc_offset(moment: datetime | None) -> str | None:
    if moment is None or moment.utcoffset() is None:
        return None
    minutes = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- walking the MIME tree ------------------------------------------------------------------------


@dataclass
class _Walk:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    parts_seen: int = 0
    chars: int = 0
    forwarded: bool = False
    charset_mismatch: bool = False
    truncated: bool = False
    report: bool = False
    report_type: str | None = None
    defects: list[str] = field(default_factory=list)


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    try:
        raw = part.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    except Exception:
        return b""


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name is None:
        try:
            name = part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
        if isinstance(name, tuple):  # RFC 2231 triple
            name = decode_bytes(str(name[2]).encode("latin-1", "replace"), str(name[0] or "utf-8"))[0]
    if not name:
        return None
    name = decode_header_value(name).replace("/", "_").replace("\\", "_").strip()
    return name[:255] or None


def _content_type(part: Message) -> str:
    try:
        content_type = part.get_content_type()[:100]
    except Exception:
        return "application/octet-stream"
    return content_type if content_type.isascii() and content_type.isprintable() else "application/octet-stream"


def _is_attachment(part: Message, content_type: str) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    if disposition == "attachment":
        return True
    if content_type not in ("text/plain", "text/html"):
        return True
    return _filename(part) is not None and disposition != "inline"


def _record_attachment(part: Message, content_type: str, walk: _Walk) -> None:
    data = _payload_bytes(part)
    walk.attachments.append(
        Attachment(
            filename=_filename(part),
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    )


def _text_of(part: Message, walk: _Walk) -> str:
    data = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    text, mismatch = decode_bytes(data[: MAX_DECODED_CHARS * 4], charset)
    walk.charset_mismatch |= mismatch
    room = MAX_DECODED_CHARS - walk.chars
    if len(text) > room:
        text = text[: max(room, 0)]
        walk.truncated = True
    walk.chars += len(text)
    return text


def _forwarded_header_block(msg: Message) -> str:
    lines = ["---------- Forwarded message ----------"]
    for name, label in (("from", "From"), ("date", "Date"), ("subject", "Subject"), ("to", "To")):
        value = decode_header_value(_raw_header(msg, name))
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines) + "\n"


def _walk(part: Message, walk: _Walk, depth: int) -> None:
    walk.parts_seen += 1
    if walk.parts_seen > MAX_PARTS:
        walk.truncated = True
        return
    if depth > MAX_DEPTH:
        walk.truncated = True
        walk.defects.append("nesting too deep")
        return
    content_type = _content_type(part)
    if content_type == "message/rfc822" or content_type == "message/global":
        walk.forwarded = True
        try:
            inner = part.get_payload()
        except Exception:
            inner = None
        for message in inner if isinstance(inner, list) else []:
            if isinstance(message, Message):
                walk.plain.append(_forwarded_header_block(message))
                _walk(message, walk, depth + 1)
        return
    if content_type == "multipart/report":
        walk.report = True
        try:
            walk.report_type = str(part.get_param("report-type") or "")[:50] or None
        except Exception:
            walk.report_type = None
    if part.is_multipart():
        try:
            children = [c for c in part.get_payload() if isinstance(c, Message)]
        except Exception:
            children = []
        if content_type == "multipart/alternative":
            _walk_alternative(children, walk, depth)
        else:
            for child in children:
                _walk(child, walk, depth + 1)
        return
    if _is_attachment(part, content_type):
        _record_attachment(part, content_type, walk)
        return
    text = _text_of(part, walk)
    if content_type == "text/html":
        walk.html.append(text)
        walk.plain.append(html_to_text(text))
    else:
        walk.plain.append(text)


def _walk_alternative(children: list[Message], walk: _Walk, depth: int) -> None:
    """Prefer the text/plain rendering unless it is empty; then the richest other one."""
    plain = [c for c in children if _content_type(c) == "text/plain" and not _is_attachment(c, "text/plain")]
    for child in plain:
        text = _text_of(child, walk)
        if text.strip():
            walk.plain.append(text)
            return
    for child in reversed([c for c in children if c not in plain]):
        before = len(walk.plain)
        _walk(child, walk, depth + 1)
        if any(p.strip() for p in walk.plain[before:]):
            return


# --- quoted replies and forwarded blocks ----------------------------------------------------------


def _is_attribution(line: str) -> bool:
    # The cheap test first keeps the regex (two bounded wildcards) off ordinary lines.
    if len(line) > 450 or not ("wrote" in line.lower() or "写道" in line or "寫道" in line):
        return False
    return _ATTRIBUTION_RE.match(line) is not None


def split_reply(text: str) -> tuple[str, str, bool]:
    """(complaint text, new text, forwarded) from a mail body.

    Quoted lines (``>``) and the attribution line before them ("On ... wrote:", "在 ... 写道：") are
    dropped; when the attribution is not followed by ``>`` lines, everything after it is the quote.
    Forwarded blocks are kept in the complaint text. The new text is what stands above the first
    quote or forward marker, without a signature.
    """
    lines = text.split("\n")
    kept: list[str] = []
    new_lines: list[str] | None = None
    forwarded = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FORWARD_MARKER_RE.match(line):
            forwarded = True
            if new_lines is None:
                new_lines = list(kept)
            kept.append(line)
        elif _is_attribution(line) or (
            index + 1 < len(lines) and len(line) > 10 and _is_attribution(f"{line} {lines[index + 1]}")
        ):
            if new_lines is None:
                new_lines = list(kept)
            rest = lines[index + 1 :]
            if not any(r.lstrip().startswith(">") for r in rest):
                break
            if not _is_attribution(line):
                index += 1
        elif line.lstrip().startswith(">"):
            if new_lines is None:
                new_lines = list(kept)
        else:
            kept.append(line)
        index += 1
    if new_lines is None:
        new_lines = kept
    for position, line in enumerate(new_lines):
        if _SIGNATURE_RE.match(line.strip()):
            new_lines = new_lines[:position]
            break
    return "\n".join(kept).strip(), "\n".join(new_lines).strip(), forwarded


# --- auto replies ---------------------------------------------------------------------------------


def _auto_reply_reason(msg: Message, from_address: str | None, subject: str | None, walk: _Walk) -> str | None:
    auto_submitted = (_raw_header(msg, "auto-submitted") or "").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted[:40]}"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if _raw_header(msg, name) is not None:
            return f"{name} header present"
    precedence = (_raw_header(msg, "precedence") or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"Precedence: {precedence}"
    if walk.report:
        return f"delivery report (multipart/report; report-type={walk.report_type or 'unknown'})"
    if _content_type(msg) == "message/delivery-status":
        return "delivery status notification"
    if from_address and from_address.split("@", 1)[0].lower() in _DAEMON_LOCAL_PARTS:
        return f"sent by {from_address.split('@', 1)[0].lower()}"
    if subject and _AUTO_SUBJECT_RE.match(subject):
        return "auto-reply subject"
    return None


# --- entry point ----------------------------------------------------------------------------------


def _parse_message(raw: bytes) -> Message:
    # compat32 rather than policy.default: the default policy's header registry parses every header it
    # touches (five times slower here) and raises on some malformed ones. Headers are decoded
    # explicitly above (RFC 2047 and RFC 2231 included), so nothing is lost.
    try:
        return BytesParser(policy=policy.compat32).parsebytes(raw)
    except Exception:
        return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)


def _sender(msg: Message) -> tuple[str | None, str | None]:
    raw_from = _raw_header(msg, "from") or _raw_header(msg, "sender") or _raw_header(msg, "reply-to")
    if not raw_from:
        return None, None
    try:
        pairs = getaddresses([" ".join(str(raw_from).split())[:MAX_HEADER_CHARS]])
    except Exception:
        pairs = []
    name, address = pairs[0] if pairs else ("", "")
    display = decode_header_value(name).strip().strip('"').strip() or None
    address = _without_surrogates(address or "")
    if not address or "@" not in address or not address.isprintable():
        address = None
    return display, address


def parse_email(raw: bytes, received_at: datetime | None = None) -> ParsedEmail:
    """Parse one mail. Never raises: anything unreadable is simply left out of the result."""
    result = ParsedEmail()
    try:
        _fill(result, raw, received_at)
    except Exception as error:  # a parser bug must not lose the message; keep what was read so far
        result.defects.append(f"parse error: {type(error).__name__}")
    if result.date is None and received_at is not None:
        result.date = received_at
    return result


def _fill(result: ParsedEmail, raw: bytes, received_at: datetime | None) -> None:
    msg = _parse_message(bytes(raw))
    result.subject = clean_text(decode_header_value(_raw_header(msg, "subject")), 500) or None
    result.from_name, result.from_address = _sender(msg)
    try:
        addresses = getaddresses(_all_raw_headers(msg, "to")[:5])
        result.to = [_without_surrogates(a) for _, a in addresses if "@" in a and a.isprintable()][:20]
    except Exception:
        result.to = []
    result.date = _parse_date(_raw_header(msg, "date"))
    result.utc_offset = _utc_offset(result.date)
    message_ids = _message_ids(_raw_header(msg, "message-id"))
    result.message_id = message_ids[0] if message_ids else None
    in_reply_to = _message_ids(_raw_header(msg, "in-reply-to"))
    result.in_reply_to = in_reply_to[0] if in_reply_to else None
    result.references = _message_ids(" ".join(_all_raw_headers(msg, "references")))
    result.authentication_results = [
        _without_surrogates(value)[:MAX_HEADER_CHARS] for value in _all_raw_headers(msg, "authentication-results")[:10]
    ]

    walk = _Walk()
    _walk(msg, walk, 0)
    result.attachments = walk.attachments
    result.html_only = bool(walk.html) and len(walk.html) == len(walk.plain)
    result.charset_mismatch = walk.charset_mismatch or _header_charset_mismatch(_raw_header(msg, "subject"))
    result.defects.extend(walk.defects)

    body = clean_text("\n\n".join(p for p in walk.plain if p.strip()), MAX_TEXT_CHARS)
    result.truncated = walk.truncated or len(body) >= MAX_TEXT_CHARS
    text, new_text, forwarded_marker = split_reply(body)
    result.text = text or body  # a message that is all quote keeps its content rather than none
    result.new_text = new_text
    result.forwarded = (
        walk.forwarded or forwarded_marker or bool(result.subject and _FORWARD_SUBJECT_RE.match(result.subject))
    )
    reason = _auto_reply_reason(msg, result.from_address, result.subject, walk)
    result.auto_reply = _without_surrogates(reason) if reason else None


def strip_subject_prefixes(subject: str) -> str:
    """The subject without its Re:/Fwd:/回复: chain."""
    return _COMPLAINT_SUBJECT_PREFIX_RE.sub("", subject).strip()
