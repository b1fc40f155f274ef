"""The one reader and the one writer of the files a user names: capped, strict reading; atomic writing."""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import stat
import tomllib
from pathlib import Path
from typing import Any

from ..text import shown

# A record of 2 million samples with its loop-lag columns is about 167 MB as netmem writes it (indent 2);
# anything bigger than this is refused before it is read, so that a wrong file (/dev/zero, a disk image) can't
# eat memory.
MAX_RECORD_BYTES = 200_000_000
# Expectations files are written by hand: a megabyte is thousands of lines.
MAX_TEXT_BYTES = 1024 * 1024
# netmem's own files nest 6 levels at most; a deeper file is hostile or broken, and refused before anything
# (jsonschema, repr, json.dumps) recurses into it.
MAX_DEPTH = 32
# Numbers a record or an expectations file may hold: byte counts, times and rates fit in a signed 64-bit integer.
MAX_MAGNITUDE = 2**63 - 1
_CHUNK = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n:,} bytes"


def read_user_bytes(path: str | os.PathLike[str], what: str, error: type[Exception],
                    limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of `path`, at most `limit` of them; else `error("<path>: <problem>")` in one line."""
    name = shown(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise error(f"{name}: is a folder, not {what}")
            if stat.S_ISREG(info.st_mode):
                if info.st_size > limit:
                    raise error(f"{name}: is {_mb(info.st_size)}; netmem reads {what} of at most {_mb(limit)}")
                data = handle.read(limit + 1)  # one allocation; +1 catches a file that grew since fstat
                if len(data) <= limit:
                    return data
                raise error(f"{name}: more than {_mb(limit)}; netmem reads {what} of at most {_mb(limit)}")
            # Devices and pipes have no size: read in chunks and stop at the cap.
            chunks, total = [], 0
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise error(f"{name}: more than {_mb(limit)}; netmem reads {what} of at most {_mb(limit)}")
                chunks.append(chunk)
            return b"".join(chunks)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a folder, not {what}") from None
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from None


def read_user_file(path: str | os.PathLike[str], what: str, error: type[Exception],
                   limit: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of `path` (see read_user_bytes); text that isn't UTF-8 is an `error` in one line."""
    return decode_text(read_user_bytes(path, what, error, limit), os.fspath(path), error)


def decode_text(data: bytes, name: str, error: type[Exception]) -> str:
    """`data` as UTF-8 text; bytes that aren't are an `error` in one line naming the first bad one."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{shown(name)}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset"
                    f" {exc.start})") from None


class _Constant(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def parse_json(text: str, name: str, error: type[Exception]) -> Any:
    """Strict JSON: no NaN or Infinity (which Python's json accepts and netmem never writes), bounded nesting."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        problem = "empty file" if not text.strip() else f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise error(f"{shown(name)}: {problem}") from None
    except _Constant as exc:
        raise error(f"{shown(name)}: not strict JSON: {exc} is not a number JSON allows") from None
    except RecursionError:
        raise error(f"{shown(name)}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise error(f"{shown(name)}: not usable JSON ({exc})") from None


def parse_json_quickly(data: bytes) -> Any | None:
    """JSON parsed by orjson (about 3 times faster than Python's json on a long run's record), or None when orjson
    refuses it or isn't installed: then parse_json decides, and says why in its own words. What orjson accepts
    parses to what parse_json would give, but for integers beyond 64 bits (floats there, which check_values
    refuses as parse_json's integers are)."""
    try:
        import orjson  # here, not at the top: most commands read no record, and start faster without it
    except ImportError:  # a platform without its wheels: Python's json reads every record, only slower
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def parse_toml(text: str, name: str, error: type[Exception]) -> dict[str, Any]:
    """TOML, with nesting bounded (tomllib recurses) and every number finite."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{shown(name)}: not TOML ({exc})") from None
    except RecursionError:
        raise error(f"{shown(name)}: nested deeper than {MAX_DEPTH} levels") from None
    check_values(doc, name, error)
    return doc


def _where(path: tuple[Any, ...]) -> str:
    return "/".join(str(p) for p in path) or "(top level)"


def check_values(doc: Any, name: str, error: type[Exception], max_depth: int = MAX_DEPTH) -> None:
    """Refuse what no schema can: nesting deeper than max_depth, numbers that are not finite or beyond 64 bits,
    text that is not valid Unicode (lone surrogates from JSON escapes). Walks without recursion."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        kind = type(value)
        if kind is dict or kind is list:
            if len(path) >= max_depth:
                raise error(f"{shown(name)}: nested deeper than {max_depth} levels (at {shown(_where(path[:3]))}/...)")
            if kind is dict:
                for key, item in value.items():
                    _check_text(key, path, name, error)
                    stack.append((item, (*path, key)))
            else:
                stack.extend((item, (*path, i)) for i, item in enumerate(value) if type(item) is not int
                             or not -MAX_MAGNITUDE <= item <= MAX_MAGNITUDE)
        elif kind is float:
            if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                raise error(f"{shown(name)}: {value!r} at {shown(_where(path))} is not a usable number")
        elif kind is int:
            if not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:
                raise error(f"{shown(name)}: the number at {shown(_where(path))} is out of range")
        elif kind is str:
            _check_text(value, path, name, error)


def _check_text(value: str, path: tuple[Any, ...], name: str, error: type[Exception]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{shown(name)}: text at {shown(_where(path))} is not valid Unicode (a lone surrogate)") from None


# ---- writing ---------------------------------------------------------------------------------------------------

def _target(path: str | os.PathLike[str]) -> Path:
    # Writing through a symbolic link updates the file it points to, not the link.
    target = Path(path)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def _temp_name(target: Path) -> Path:
    # Short enough that a target name near the 255-byte limit still leaves room for the temporary one.
    stem = target.name[:80]
    return target.with_name(f".{stem}.{secrets.token_hex(4)}.tmp")


def write_user_file(path: str | os.PathLike[str], data: str | bytes, error: type[Exception]) -> None:
    """Write atomically: a temporary file in the same folder, flushed to disk, renamed over `path`; an existing
    file keeps its mode, a new one gets the umask's. Any failure is `error("<path>: ...")` and leaves no
    temporary file behind."""
    name = shown(os.fspath(path))
    if not os.fspath(path):
        raise error("an empty file name; give a file name")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        target = _target(path)
        if target.is_dir():
            raise error(f"{name}: is a folder; give a file name")
        try:
            mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = None
        _write_via_temp(target, payload, mode)
    except OSError as exc:
        raise error(f"{name}: cannot write: {exc.strerror or exc}") from None
    _sync_folder(target.parent)


def _write_via_temp(target: Path, payload: bytes, mode: int | None) -> None:
    tmp = _temp_name(target)
    # 0o666 through os.open lets the kernel apply the umask (mkstemp would make every file 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _sync_folder(folder: Path) -> None:
    # The rename is durable once the folder is synced; not every system allows it, and nothing depends on it.
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_writable(path: str | os.PathLike[str], error: type[Exception]) -> None:
    """Fail now, before a run, if write_user_file can't write `path` (error, one line)."""
    name = shown(os.fspath(path))
    if not os.fspath(path):
        raise error("an empty file name; give a file name")
    try:
        target = _target(path)
        if target.is_dir():
            raise error(f"{name}: is a folder; give a file name")
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise error(f"{name}: folder {shown(os.fspath(folder))} does not exist")
        if len(os.fsencode(target.name)) > 255:
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
        tmp = _temp_name(target)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(tmp)
        if target.exists() and not os.access(target, os.W_OK):
            raise error(f"{name}: file exists and is read-only")
    except OSError as exc:
        raise error(f"{name}: cannot write: {exc.strerror or exc}") from None
