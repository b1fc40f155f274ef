"""Your own asyncio server, loaded by import path (MODULE:ATTR) into netmem's server process, its connections counted.

Loading follows uvicorn and aiohttp: `--app-dir` goes first on sys.path, MODULE is imported with importlib and
ATTR looked up with getattr (dots allowed), never eval. What was found is classified with `inspect`, never by
calling it to see:

* a coroutine function taking (reader, writer): an asyncio streams handler, served like `asyncio.start_server`;
* an asyncio.Protocol (or BufferedProtocol) subclass: a protocol factory for `loop.create_server`;
* any other callable taking no arguments: a factory, called once when the server starts (awaited when it returns
  an awaitable), whose result must be one of the two above.

This module is imported by the server process: it must not import numpy (see test_leak).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import errno
import importlib
import inspect
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError
from ..errors import WorkloadError
from .workload import LOOPBACK, SETTLE_TIMEOUT_S, settle

STREAMS, PROTOCOL, FACTORY = "streams", "protocol", "factory"
EXPECTED = ("a streams handler (async def handler(reader, writer)), an asyncio.Protocol subclass, or a factory"
            " taking no arguments that returns one of those")
STREAM_LIMIT = 2**16  # asyncio.start_server's default StreamReader limit
FIRST_TRACEBACK_LINES = 40


class ServerLoadError(ConfigError):
    """--server names something netmem can't serve; the message is one line for the user."""


@dataclass(frozen=True)
class Loaded:
    """A user's server object, found and classified."""

    spec: str
    module: str
    attr: str
    file: str | None
    kind: str  # streams, protocol or factory
    obj: Any = field(compare=False, repr=False)

    def describe(self) -> dict[str, Any]:
        """The record's target block for a server of the user's."""
        return {"kind": "server", "module": self.module, "attr": self.attr, "file": self.file,
                "handler_kind": self.kind}


def parse_spec(spec: str) -> tuple[str, str]:
    """("module.path", "attr.path") from "module.path:attr.path"; ServerLoadError for anything else."""
    module, sep, attr = spec.partition(":")
    names = [*module.split("."), *attr.split(".")]
    if not sep or not all(n.isidentifier() for n in names):
        raise ServerLoadError(f"--server must be MODULE:ATTR (for example chat:handle or app.server:make),"
                              f" not {spec!r}")
    return module, attr


def app_dir_of(app_dir: str | None) -> str:
    """The folder put first on sys.path: --app-dir, or the current folder; absolute."""
    return os.path.abspath(app_dir if app_dir else os.curdir)


def load(spec: str, app_dir: str | None = None, fresh: bool = False, server_process: bool = False) -> Loaded:
    """Import MODULE with `app_dir` first on sys.path, find ATTR and classify it; ServerLoadError if it can't serve.

    `fresh` re-executes a module imported before (the app loads it again for each run, so edits are seen and no
    state of an earlier run is kept in its globals). `server_process`: this process only serves (the isolated
    host's), imports nothing of netmem's later and is measured, so netmem's lazy modules stay out of it.
    """
    module_name, attr = parse_spec(spec)
    folder = app_dir_of(app_dir)
    if not os.path.isdir(folder):
        raise ServerLoadError(f"--app-dir {folder}: no such folder")
    if sys.path[:1] != [folder]:
        if not server_process:
            _own_modules_first()
        sys.path.insert(0, folder)
    module = _import(spec, module_name, fresh)
    file = getattr(module, "__file__", None)
    obj: Any = module
    for i, part in enumerate(attr.split(".")):
        if not hasattr(obj, part):
            owner = module_name + "".join("." + p for p in attr.split(".")[:i])
            near = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ServerLoadError(f"--server {spec}: {owner} ({file or 'built in'}) has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
    kind = classify(obj, f"--server {spec}")
    return Loaded(spec, module_name, attr, file, kind, obj)


# What netmem imports lazily (after a user's folder may be first on sys.path): imported before it is, so that an
# `orjson.py` or `numpy.py` of the user's can't stand in for them (it made netmem fail with a traceback).
OWN_LAZY_MODULES = ("orjson", "numpy", "jsonschema", "psutil", "platformdirs", "json", "tomllib", "mmap",
                    "urllib.request")


def _own_modules_first() -> None:
    for name in OWN_LAZY_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional one (orjson) that isn't installed: netmem does without it


def _import(spec: str, name: str, fresh: bool) -> Any:
    try:
        if fresh and name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            searched = ", ".join(p or "''" for p in sys.path)
            raise ServerLoadError(f"--server {spec}: no module named {exc.name!r} in any folder of the search path"
                                  f" (--app-dir, then sys.path: {searched})") from None
        raise ServerLoadError(f"--server {spec}: importing {name} failed: {exc}{_where(exc)}") from None
    except SyntaxError as exc:
        raise ServerLoadError(f"--server {spec}: {exc.filename} line {exc.lineno}: {exc.msg}") from None
    except SystemExit as exc:  # a script's sys.exit() left at the top: it must not end netmem, nor its status
        raise ServerLoadError(f"--server {spec}: importing {name} called sys.exit({exc.code!r}){_where(exc)}; a module"
                              " to serve must not exit when imported") from None
    except (Exception, KeyboardInterrupt) as exc:
        said = f": {exc}" if str(exc) else ""
        raise ServerLoadError(f"--server {spec}: importing {name} raised {type(exc).__name__}{said}{_where(exc)}"
                              ) from None


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({frames[-1].filename} line {frames[-1].lineno})" if frames else ""


# ---- classification ---------------------------------------------------------------------------------------------

def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None  # some builtins have none


def _arity(sig: inspect.Signature) -> tuple[int, float]:
    """(required positional parameters, most positional arguments accepted) of a signature."""
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    required_kw = any(p.kind == p.KEYWORD_ONLY and p.default is p.empty for p in sig.parameters.values())
    most = float("inf") if any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()) else len(positional)
    return required + (1000 if required_kw else 0), most


def _params(sig: inspect.Signature | None) -> str:
    return "(" + ", ".join(sig.parameters) + ")" if sig is not None else "(?)"


def _is_coroutine_callable(obj: Any) -> bool:
    if inspect.iscoroutinefunction(obj):
        return True
    if inspect.isfunction(obj) or inspect.isclass(obj) or not callable(obj):
        return False
    return inspect.iscoroutinefunction(type(obj).__call__)  # an object whose __call__ is `async def`


def _web_app(obj: Any, sig: inspect.Signature | None, is_async: bool) -> str | None:
    """'an ASGI application' / 'a WSGI application' when the object looks like one."""
    names = tuple(sig.parameters) if sig is not None else ()
    if is_async and (names[-3:] == ("scope", "receive", "send") or len(names) == 3):
        return "an ASGI application (scope, receive, send)"
    if not is_async and (names[-2:] == ("environ", "start_response") or hasattr(obj, "wsgi_app")):
        return "a WSGI application (environ, start_response)"
    return None


def classify(obj: Any, what: str) -> str:
    """STREAMS, PROTOCOL or FACTORY for what --server names; ServerLoadError saying what it is otherwise."""
    if inspect.isclass(obj) and issubclass(obj, asyncio.BaseProtocol):
        if not issubclass(obj, (asyncio.Protocol, asyncio.BufferedProtocol)):
            raise ServerLoadError(f"{what} is {obj.__name__}, an asyncio protocol for datagrams or subprocesses;"
                                  f" expected {EXPECTED} (netmem's clients speak TCP)")
        sig = _signature(obj)
        if sig is not None and _arity(sig)[0] > 0:
            raise ServerLoadError(f"{what} is an asyncio.Protocol subclass whose constructor takes {_params(sig)};"
                                  f" netmem creates one per connection with no arguments: give a factory (a function"
                                  f" taking no arguments) that returns a Protocol subclass or a handler")
        return PROTOCOL
    if inspect.ismodule(obj):
        raise ServerLoadError(f"{what} is a module, not a server object; expected {EXPECTED}")
    if not callable(obj):
        raise ServerLoadError(f"{what} is a {type(obj).__name__} value, not callable; expected {EXPECTED}")
    if inspect.isasyncgenfunction(obj) or inspect.isgeneratorfunction(obj):
        raise ServerLoadError(f"{what} is a generator function; expected {EXPECTED}")
    is_async = _is_coroutine_callable(obj)
    sig = _signature(obj)
    web = _web_app(obj, sig, is_async)
    if web is not None:
        raise ServerLoadError(f"{what} is {web}, an HTTP framework's entry point; netmem serves raw TCP with {EXPECTED}"
                              f" (to profile a web app, run it under its own server and give netmem that server)")
    required, most = _arity(sig) if sig is not None else (0, float("inf"))
    if is_async:
        if required <= 2 <= most:
            return STREAMS
        if required == 0:
            return FACTORY  # async def make(): awaited once when the server starts
        raise ServerLoadError(f"{what} is a coroutine function taking {_params(sig)}; a streams handler takes"
                              f" (reader, writer)")
    if required == 0:
        return FACTORY
    if required == 2:
        raise ServerLoadError(f"{what} is a plain function taking {_params(sig)}; a streams handler must be a"
                              f" coroutine function: async def {getattr(obj, '__name__', 'handler')}(reader, writer)")
    raise ServerLoadError(f"{what} is a callable taking {_params(sig)}; expected {EXPECTED}")


async def resolve(loaded: Loaded) -> tuple[str, Any]:
    """The streams handler or Protocol subclass to serve: the object itself, or what its factory returns (once)."""
    if loaded.kind != FACTORY:
        return loaded.kind, loaded.obj
    what = f"--server {loaded.spec}"
    try:
        made = loaded.obj()
        if inspect.isawaitable(made):
            made = await made
    except Exception as exc:
        raise WorkloadError(f"{what}: the factory raised {type(exc).__name__}: {exc}{_where(exc)}") from None
    try:
        kind = classify(made, f"what the factory {what} returned")
    except ServerLoadError as exc:
        raise WorkloadError(str(exc)) from None
    if kind == FACTORY:
        raise WorkloadError(f"what the factory {what} returned is another factory; expected a streams handler"
                            f" (reader, writer) or an asyncio.Protocol subclass")
    return kind, made


# ---- serving it -------------------------------------------------------------------------------------------------

@dataclass
class HandlerErrors:
    """Exceptions raised by the user's code during the run: how many connections they ended, and the first."""

    connections: int = 0
    first: str | None = None  # the first traceback, as Python prints it (cut to FIRST_TRACEBACK_LINES lines)

    def add(self, exc: BaseException) -> None:
        self.connections += 1
        if self.first is None:
            # From the user's frame on: the first frame is netmem's guard around their callback.
            tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
            lines = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip().splitlines()
            self.first = "\n".join(lines[-FIRST_TRACEBACK_LINES:])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class UserServer:
    """Serves the user's handler or protocol on loopback, counting open connections without changing what it does.

    Same interface as workload.EchoServer, so the scenarios, checkpoints (which wait for the server to hold the
    connections the clients hold) and --inject-leak work on it as they do on the echo server.
    """

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.transports: set[asyncio.BaseTransport] = set()
        self.connections_closed = 0
        self.leak_bytes = 0
        self.leaked: list[bytearray] = []
        self.errors = HandlerErrors()
        self._served: tuple[str, Any] | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def open_connections(self) -> int:
        return len(self.transports)

    def describe(self) -> dict[str, Any]:
        return self.loaded.describe()

    def _opened(self, transport: asyncio.BaseTransport) -> None:
        self.transports.add(transport)
        if self.leak_bytes:
            self.leaked.append(bytearray(self.leak_bytes))  # --inject-leak, as the echo server keeps it

    def _closed(self, transport: asyncio.BaseTransport) -> None:
        if transport in self.transports:
            self.transports.discard(transport)
            self.connections_closed += 1

    def _failed(self, exc: BaseException) -> None:
        if not self._stopping:  # what the handler raises because netmem closed its connection is not its bug
            self.errors.add(exc)

    async def settle(self, connections: int, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
        return await settle(lambda: len(self.transports), connections, timeout_s)

    async def start(self, port: int = 0, leak_bytes: int = 0) -> int:
        self.leak_bytes = leak_bytes
        self._stopping = False
        if self._served is None:
            self._served = await resolve(self.loaded)  # a factory is called once, at the first start
        kind, obj = self._served
        factory = self._streams_factory(obj) if kind == STREAMS else self._protocol_factory(obj)
        try:
            self._server = await asyncio.get_running_loop().create_server(factory, LOOPBACK, port, backlog=4096)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise WorkloadError(f"cannot listen on {LOOPBACK}:{port}: {reason}") from None
        return self._server.sockets[0].getsockname()[1]

    def _streams_factory(self, handler: Any) -> Any:
        """What asyncio.start_server does (a StreamReader and a StreamReaderProtocol per connection), counted."""
        server = self
        loop = asyncio.get_running_loop()

        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                server._tasks.add(task)
                task.add_done_callback(server._tasks.discard)
            try:
                await handler(reader, writer)
            except Exception as exc:  # the user's bug: counted, the first traceback kept, the connection closed
                server._failed(exc)
                writer.close()  # as asyncio closes the transport when a handler raises

        class Counted(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                server._opened(transport)
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                transport = self._transport  # type: ignore[attr-defined]
                super().connection_lost(exc)
                server._closed(transport)

        def factory() -> asyncio.StreamReaderProtocol:
            return Counted(asyncio.StreamReader(limit=STREAM_LIMIT, loop=loop), guarded, loop=loop)

        return factory

    def _protocol_factory(self, cls: type[asyncio.BaseProtocol]) -> Any:
        """A new instance of the user's Protocol per connection, its callbacks wrapped to count and catch."""
        server = self

        def factory() -> asyncio.BaseProtocol:
            try:
                protocol = cls()
            except Exception as error:  # the user's bug: this connection fails, counted and shown like the others
                server._failed(error)
                return _Refused()
            seen: dict[str, asyncio.BaseTransport] = {}
            made, lost = protocol.connection_made, protocol.connection_lost

            def connection_made(transport: asyncio.BaseTransport) -> None:
                seen["transport"] = transport
                server._opened(transport)
                _guard(made, transport)

            def connection_lost(exc: Exception | None) -> None:
                try:
                    _guard(lost, exc)
                finally:
                    server._closed(seen.get("transport"))  # type: ignore[arg-type]

            def _guard(callback: Any, *args: Any) -> Any:
                try:
                    return callback(*args)
                except Exception as error:  # the user's bug: counted, and the connection closed, as asyncio would
                    server._failed(error)
                    transport = seen.get("transport")
                    if transport is not None:
                        transport.abort()  # type: ignore[attr-defined]
                    return None

            wrapped = {"connection_made": connection_made, "connection_lost": connection_lost}
            for name in ("data_received", "eof_received", "buffer_updated"):
                original = getattr(protocol, name, None)
                if original is not None:
                    wrapped[name] = (lambda f: lambda *a: _guard(f, *a))(original)
            for name, callback in wrapped.items():
                setattr(protocol, name, callback)  # on the instance: the class and its behaviour stay the user's
            return protocol

        return factory

    def abort(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for transport in list(self.transports):
            transport.abort()  # type: ignore[attr-defined]

    async def stop(self) -> None:
        server = self._server
        self.abort()
        self._server = None
        if server is not None:
            await server.wait_closed()
        # Let connection_lost callbacks and the handlers' own cleanup run; then end handlers still waiting.
        for _ in range(10):
            if not self._tasks:
                break
            await asyncio.sleep(0.01)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0)
        self.transports.clear()


class _Refused(asyncio.Protocol):
    """What a connection gets when the user's Protocol could not be made: it is closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


def make_server(spec: str | None, app_dir: str | None, fresh: bool = False, server_process: bool = False) -> Any:
    """The server a run serves: netmem's echo server, or the user's (--server); `server_process` as in load()."""
    if not spec:
        from .workload import EchoServer

        return EchoServer()
    return UserServer(load(spec, app_dir, fresh, server_process))
