"""The workers' event loop: uvloop when it is installed, because their time goes mostly to socket I/O."""

from __future__ import annotations

import importlib.util

import mode.loop


def install_event_loop(choice: str = "auto") -> str:
    """Make new event loops of this process uvloop or asyncio's own; call before any loop exists.

    ``auto`` picks uvloop when the package is installed. Returns the loop chosen.
    """
    if choice == "asyncio" or (choice == "auto" and importlib.util.find_spec("uvloop") is None):
        return "asyncio"
    mode.loop.use("uvloop")
    return "uvloop"
