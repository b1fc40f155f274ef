"""Reading a file the user named, with one clear line for every way that can fail."""

from __future__ import annotations

import os
from pathlib import Path


def read_user_file(path: str | os.PathLike[str], what: str, error: type[Exception]) -> str:
    """The text of `path`; else `error("<path>: <problem>")`, where `what` names the file kind ("record")."""
    name = os.fspath(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a folder, not {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
