"""The HTTP front: `FakeTelegram` served on a loopback port, for bots in another process.

    async with FakeTelegram() as tg, BotApiServer(tg) as server:
        env = {"TELEGRAM_API_BASE_URL": server.base_url, ...}   # http://127.0.0.1:<port>/bot
        ...start `steady run` with env...

Serves `GET`/`POST /bot<token>/<method>` with query-string, JSON, form-urlencoded and
multipart bodies, and `GET /file/bot<token>/<file_path>` downloads. HTTP/1.1 keep-alive and
chunked request bodies are understood, which is all httpx (python-telegram-bot's client) uses.
Connection faults close the socket without an answer, as a real network failure would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from http import HTTPStatus
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tornado.httputil import HTTPFile, HTTPHeaders, parse_body_arguments

from tests.botapi.core import FakeTelegram
from tests.botapi.errors import NOT_FOUND, SimulatedConnectionFailure, bad_request
from tests.botapi.models import UploadedFile

_log = logging.getLogger(__name__)

_METHOD_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/]+)$")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 60 * 1024 * 1024


class _ClientGone(Exception):
    pass


class BotApiServer:
    """A loopback HTTP server in front of one `FakeTelegram`.

    Use as `async with BotApiServer(tg) as server:`; `server.base_url` is what
    python-telegram-bot's `ApplicationBuilder.base_url()` (or Steady's
    TELEGRAM_API_BASE_URL) expects, and `server.base_file_url` its file counterpart.
    """

    def __init__(self, telegram: FakeTelegram, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.telegram = telegram
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.requests_served = 0

    async def __aenter__(self) -> BotApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening (on a free port unless one was given)."""
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self._requested_port
        )

    async def close(self) -> None:
        """Stop listening and drop open connections, including long polls in progress."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        if self._server is None:
            raise RuntimeError("the server is not running; use `async with BotApiServer(...)`")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """The server root, e.g. `http://127.0.0.1:41234`."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>/bot`: append `<token>/<method>`."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """`http://127.0.0.1:<port>/file/bot`: append `<token>/<file_path>`."""
        return f"{self.url}/file/bot"

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                verb, target, headers, body = request
                try:
                    status, content_type, payload = await self._answer(verb, target, headers, body)
                except SimulatedConnectionFailure:
                    break
                self.requests_served += 1
                keep_alive = headers.get("Connection", "").lower() != "close"
                writer.write(_response_bytes(status, content_type, payload, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only close() cancels connections. Ending normally matters on Python 3.11, whose
            # stream callback reports a cancelled connection task as an unhandled error.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _answer(
        self, verb: str, target: str, headers: HTTPHeaders, body: bytes
    ) -> tuple[int, str, bytes]:
        parts = urlsplit(target)
        path = unquote(parts.path)
        file_match = _FILE_PATH.search(path)
        if file_match and verb in ("GET", "HEAD"):
            status, content = self.telegram.download(file_match["token"], file_match["path"])
            kind = "application/octet-stream" if status == HTTPStatus.OK else "application/json"
            return status, kind, content
        match = _METHOD_PATH.search(path)
        if match is None or verb not in ("GET", "POST"):
            return NOT_FOUND.response().status, "application/json", NOT_FOUND.response().body
        try:
            params, files = _decode_parameters(parts.query, headers, body)
        except ValueError:
            response = bad_request("can't parse request body").response()
        else:
            response = await self.telegram.handle(match["token"], match["method"], params, files)
        return response.status, "application/json", response.body


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, HTTPHeaders, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise _ClientGone from error
        return None
    except asyncio.LimitOverrunError as error:
        raise _ClientGone from error
    if len(head) > _MAX_HEADER_BYTES:
        raise _ClientGone
    request_line, _, header_text = head.decode("latin-1").partition("\r\n")
    try:
        verb, target, _version = request_line.split(" ", 2)
    except ValueError:
        raise _ClientGone from None
    headers = HTTPHeaders.parse(header_text)
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("Content-Length", "0") or 0)
        if length > _MAX_BODY_BYTES:
            raise _ClientGone
        body = await reader.readexactly(length) if length else b""
    return verb.upper(), target, headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Skip optional trailers up to the blank line.
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(chunks)
        total += size
        if total > _MAX_BODY_BYTES:
            raise _ClientGone
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _decode_parameters(
    query: str, headers: HTTPHeaders, body: bytes
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    files: dict[str, UploadedFile] = {}
    content_type = headers.get("Content-Type", "")
    if not body:
        return params, files
    if content_type.split(";", 1)[0].strip().lower() == "application/json":
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise ValueError("a JSON body must be an object")
        params.update(decoded)
        return params, files
    arguments: dict[str, list[bytes]] = {}
    parts: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(content_type, body, arguments, parts, headers)
    for name, values in arguments.items():
        params[name] = values[0].decode()
    for name, uploads in parts.items():
        upload = uploads[0]
        files[name] = UploadedFile(
            filename=upload.filename or None,
            content=upload.body,
            mime_type=upload.content_type or None,
        )
    return params, files


def _response_bytes(status: int, content_type: str, payload: bytes, keep_alive: bool) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    head = (
        f"HTTP/1.1 {status} {phrase}\r\n"
        f"Server: steady-botapi-stand-in\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(payload)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + payload
