"""Reads mail for ``complaintflow import-mail``: one .eml, a folder of them, or an mbox file."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_messages(path: Path) -> Iterator[bytes]:
    if path.is_dir():
        for eml in sorted(path.rglob("*.eml")):
            yield eml.read_bytes()
    elif _is_mbox(path):
        box = mailbox.mbox(str(path), create=False)
        try:
            for key in box.iterkeys():
                yield box.get_bytes(key)
        finally:
            box.close()
    else:
        yield path.read_bytes()
