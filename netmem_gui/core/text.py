"""Text from users and files: checked at the door (valid Unicode), escaped when shown (no control characters)."""

from __future__ import annotations

import argparse
import re

from .errors import NetmemError

# C0 and C1 controls, DEL, lone surrogates (undecodable bytes of a file name or argv), and the bidirectional
# overrides, line and paragraph separators that can make a line show something other than what it holds.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte Python's surrogateescape kept from an undecodable name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def shown(value: object) -> str:
    """`value` as text that is safe to print: one line, no escape codes, always encodable as UTF-8."""
    return _UNSAFE.sub(_escape, str(value))


class TextError(NetmemError, ValueError):
    """Text that can't be kept (not valid Unicode); one line."""


def checked(value: str, what: str = "text") -> str:
    """`value` if it is valid Unicode; else TextError. Command-line arguments that were not UTF-8 arrive as lone
    surrogates, which no file, terminal or JSON document can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TextError(f"{what} {shown(value)!s} is not valid UTF-8 text (byte {shown(value[exc.start])}"
                        f" at position {exc.start})") from None
    return value


def label_argument(value: str) -> str:
    """argparse `type` of a label: text that isn't valid UTF-8 is refused at the door (exit 2, one line)."""
    try:
        return checked(value, "label")
    except TextError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
