"""The bytes of the notifier's e-mails (RFC 5322 / MIME), written directly.

Every customer e-mail has one shape: a known set of headers and a multipart/alternative body with a
text/plain and a text/html part in UTF-8. For that shape, header objects and the ``email`` generator cost
several times more CPU than the templates that produce the text, so the fields and parts are written here.

What goes out is 7-bit clean: non-ASCII text in headers becomes RFC 2047 encoded-words, non-ASCII or long
lines in bodies go as quoted-printable or base64. The one exception is a non-ASCII address, which can only be
written as UTF-8 and only goes to a server with SMTPUTF8. So the same bytes suit servers with and without
8BITMIME, and are made once per message.

Pure: no I/O. Values are never trusted to be single-line; line breaks and controls cannot end a field early.
"""

from __future__ import annotations

import binascii
import random
import re
import sys
from collections.abc import Iterable, Sequence

CRLF = "\r\n"
MAX_LINE = 78  # RFC 5322's "SHOULD"; 998 is the hard limit
MAX_ADDRESS_OCTETS = 254  # RFC 5321's path limit, less the angle brackets
_ENCODED_WORD_MAX = 75  # RFC 2047
_ENCODED_WORD_OVERHEAD = len("=?utf-8?b??=")
_BASE64_LINE = 76  # RFC 2045's limit for base64 lines
_BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
_PLAIN_EMAIL = re.compile(r"^[^\s@<>\"',;]+@[^\s@<>\"',;]+\.[^\s@<>\"',;]+$")


def usable_email(address: str | None) -> str | None:
    """The address, trimmed, when it is a plain ``local@domain.tld`` we can send to; else None."""
    if not address:
        return None
    address = address.strip()
    return address if _PLAIN_EMAIL.match(address) else None


# Runs of whitespace and controls: in a header they can only ever mean "a space".
_BLANKS = re.compile(r"[\x00-\x20\x7f]+")
# Unquoted, these would end a phrase word or change what a parser reads (RFC 5322 "specials").
_PHRASE_SPECIALS = frozenset('()<>@,:;.\\"[]')
# A local part with any of these goes as a quoted-string; the stdlib's ``Address.addr_spec`` rule.
_LOCAL_PART_SPECIALS = frozenset('()<>@,:;\\"[] ')
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_DOMAIN = re.compile(r'[^\x00-\x20\x7f()<>@,:;\\"\[\]]+|\[[^\x00-\x20\x7f\[\]\\]*\]')
_FIELD_VALUE = re.compile(r"[!-~]+(?: [!-~]+)*")
# Body bytes that cannot go unencoded in a 7-bit part: anything but printable ASCII, tab and line feed, and
# lines longer than a header line would be (the stdlib's choice too).
_NOT_RAW = re.compile(rb"[^\t\n\x20-\x7e]|[^\n]{%d}" % (MAX_LINE + 1))


def _fold(name: str, tokens: Iterable[tuple[str, bool]]) -> str:
    """``name: tokens`` as a header field, folded before tokens so lines stay within ``MAX_LINE``.

    A token is ``(text, encode)``. Plain tokens are separated by one space. A token to encode becomes one or
    more encoded-words; the whitespace between encoded-words is dropped by decoders, so such a token must hold
    all adjacent text that needs encoding, spaces included.
    """
    lines: list[str] = []
    line = f"{name}:"
    fresh = True  # nothing after the field name or the folding space yet: folding here would gain nothing
    for text, encode in tokens:
        if not encode:
            if not fresh and len(line) + 1 + len(text) > MAX_LINE:
                lines.append(line)
                line = ""
            line += " " + text
            fresh = False
            continue
        data = text.encode()
        while data:
            room = min(MAX_LINE - len(line) - 1, _ENCODED_WORD_MAX) - _ENCODED_WORD_OVERHEAD
            whole = (len(data) + 2) // 3 * 4
            if whole > room and not fresh and whole <= _ENCODED_WORD_MAX - _ENCODED_WORD_OVERHEAD:
                lines.append(line)  # fits on a line of its own: better than splitting it
                line, fresh = "", True
                continue
            take = min(len(data), room // 4 * 3)
            while 0 < take < len(data) and data[take] & 0xC0 == 0x80:
                take -= 1  # each encoded-word must hold whole characters
            if take == 0:
                lines.append(line)  # not even one character fits after what is on this line
                line, fresh = "", True
                continue
            line += f" =?utf-8?b?{binascii.b2a_base64(data[:take], newline=False).decode()}?="
            fresh = False
            data = data[take:]
            if data:
                lines.append(line)
                line, fresh = "", True
    lines.append(line)
    return CRLF.join(lines) + CRLF


def _words(value: str) -> list[str]:
    value = _BLANKS.sub(" ", value).strip(" ")
    return value.split(" ") if value else []


def _needs_encoding(word: str, limit: int) -> bool:
    # "=?" could be read as the start of an encoded-word; a word longer than a line could not be folded.
    return not word.isascii() or "=?" in word or len(word) > limit


def unstructured(name: str, value: str) -> str:
    """A free-text field (Subject and the like): ASCII words as they are, the rest as encoded-words.

    Whitespace and controls, line breaks included, become single spaces.
    """
    limit = MAX_LINE - len(name) - 2
    tokens: list[tuple[str, bool]] = []
    run: list[str] = []
    for word in _words(value):
        if _needs_encoding(word, limit):
            run.append(word)
            continue
        if run:
            tokens.append((" ".join(run), True))
            run = []
        tokens.append((word, False))
    if run:
        tokens.append((" ".join(run), True))
    return _fold(name, tokens)


def _phrase(display_name: str, limit: int) -> list[tuple[str, bool]]:
    words = _words(display_name)
    if not words:
        return []
    name = " ".join(words)
    if any(_needs_encoding(word, limit) for word in words):
        return [(name, True)]
    if _PHRASE_SPECIALS.isdisjoint(name):
        return [(word, False) for word in words]
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return [(quoted, False)] if len(quoted) <= limit else [(name, True)]


def address_list(name: str, mailboxes: Sequence[tuple[str, str]]) -> str:
    """An address field (From, To, Reply-To) from ``(display name, addr-spec)`` pairs.

    The addr-spec must come from ``addr_spec``. A display name goes as atoms, a quoted-string or
    encoded-words, whichever keeps it intact; without one, the bare addr-spec is written.
    """
    if not mailboxes:
        raise ValueError(f"{name} needs at least one address")
    limit = MAX_LINE - len(name) - 2
    tokens: list[tuple[str, bool]] = []
    for index, (display_name, spec) in enumerate(mailboxes):
        phrase = _phrase(display_name, limit)
        tokens += phrase
        address = f"<{spec}>" if phrase else spec
        tokens.append((address + ("," if index < len(mailboxes) - 1 else ""), False))
    return _fold(name, tokens)


def addr_spec(local_part: str, domain: str) -> str:
    """``local-part@domain`` as written in a header and on the SMTP envelope; ValueError if it cannot be one.

    The local part is quoted when it is not a dot-atom. A domain must be a plain name (non-ASCII allowed:
    SMTPUTF8) or a literal; anything a parser would read as a comment, a route or a second address is
    refused rather than sent to a different mailbox than the envelope's.
    """
    if not local_part:
        raise ValueError("empty local part")
    if _CONTROLS.search(local_part):
        raise ValueError("control character in the local part")
    if not _LOCAL_PART_SPECIALS.isdisjoint(local_part):
        local_part = '"' + local_part.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if not domain:
        return local_part  # an address the relay completes; only ever from configuration
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a usable domain: {domain!r}")
    spec = f"{local_part}@{domain}"
    if len(spec.encode()) > MAX_ADDRESS_OCTETS:
        raise ValueError(f"address longer than {MAX_ADDRESS_OCTETS} octets")
    return spec


def field(name: str, value: str) -> str:
    """A field whose value is printable ASCII in single-spaced words (dates, message ids, fixed flags).

    These are built or validated by the caller; anything else is a bug and raises ValueError.
    """
    if not _FIELD_VALUE.fullmatch(value) or len(name) + 2 + len(value) > 998:
        raise ValueError(f"not a plain {name} value: {value!r}")
    return f"{name}: {value}{CRLF}"


def _body(data: bytes) -> bytes:
    """``\\n`` line ends and a final line end, as ``EmailMessage.set_content`` keeps a text."""
    if b"\r" in data:
        return b"\n".join(data.splitlines()) + b"\n"
    return data if data.endswith(b"\n") else data + b"\n"


def _base64_lines(data: bytes) -> bytes:
    # One call into C, then cut: half the time of encoding line by line.
    encoded = binascii.b2a_base64(data, newline=False)
    return b"\n".join([encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)]) + b"\n"


def _text_part(subtype: str, text: str) -> tuple[bytes, bytes | None]:
    """A text part (headers and body, CRLF line ends), and the body if it goes unencoded (may hold a boundary)."""
    encoded = text.encode()
    data = _body(encoded)
    if not _NOT_RAW.search(data):
        cte, body, raw = "7bit", data, data
    else:
        # Quoted-printable keeps mostly-ASCII text readable, base64 keeps CJK text small: each non-ASCII
        # octet and "=" costs three characters in the one, every octet 4/3 in the other.
        non_ascii = (len(encoded) - len(text)) * 3 // 2  # CJK: three octets per character, two more than in str
        escaped = non_ascii + data.count(b"=")
        if 2 * escaped <= len(data) // 3:
            cte, body = "quoted-printable", binascii.b2a_qp(data, istext=True)
        else:
            cte, body = "base64", _base64_lines(data)
        raw = None
    headers = f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}{CRLF}{CRLF}'
    return headers.encode() + body.replace(b"\n", b"\r\n"), raw


def _boundary(raw_parts: Iterable[bytes]) -> str:
    """A boundary in the stdlib's form. Only unencoded parts can hold it: base64 has no "-" and
    quoted-printable never two "=" in a row."""
    raw = list(raw_parts)
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_DIGITS}d}=="
        needle = boundary.encode()
        if not any(needle in part for part in raw):
            return boundary


def multipart_alternative(headers: Iterable[str], text: str, html: str) -> bytes:
    """The whole message: ``headers`` (folded fields from this module), MIME-Version and Content-Type, then
    the plain-text and HTML alternatives, in that order (readers show the last one they can)."""
    plain_part, plain_raw = _text_part("plain", text)
    html_part, html_raw = _text_part("html", html)
    boundary = _boundary(part for part in (plain_raw, html_raw) if part is not None)
    head = "".join(headers) + (
        f'MIME-Version: 1.0{CRLF}Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
    )
    delimiter = f"--{boundary}\r\n".encode()
    return b"".join(
        (
            head.encode(),
            delimiter,
            plain_part,
            b"\r\n",
            delimiter,
            html_part,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
