"""The in-process front: a python-telegram-bot `BaseRequest` that talks to `FakeTelegram`.

    app = (
        Application.builder()
        .token(tg.token)
        .request(FakeTelegramRequest(tg))
        .get_updates_request(FakeTelegramRequest(tg))
        .build()
    )

The bot's requests never leave the process, but every one goes through the same path as over
HTTP: URL parsing, the JSON-encoded parameters python-telegram-bot would put in a form body,
the multipart files, and the raw `(status, bytes)` answer that python-telegram-bot decodes.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qsl, unquote, urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from tests.botapi.core import FakeTelegram
from tests.botapi.errors import NOT_FOUND, SimulatedConnectionFailure
from tests.botapi.models import UploadedFile

_METHOD_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/]+)$")
_FILE_PATH = re.compile(r"/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


def files_of(request_data: RequestData | None) -> dict[str, UploadedFile]:
    """The multipart parts python-telegram-bot would upload, read into memory."""
    if request_data is None or not request_data.contains_files:
        return {}
    files: dict[str, UploadedFile] = {}
    for name, part in request_data.multipart_data.items():
        filename, content, mime_type = part
        data = content if isinstance(content, bytes) else content.read()
        files[name] = UploadedFile(filename=filename or None, content=data, mime_type=mime_type)
    return files


class FakeTelegramRequest(BaseRequest):
    """Answers python-telegram-bot's requests from a `FakeTelegram`, without sockets.

    `read_timeout` is honoured like a real HTTP client: if the stand-in takes longer (a "slow"
    fault with real sleeping), the bot gets `TimedOut`. Connection faults become
    `NetworkError`, worded like httpx's.
    """

    def __init__(self, telegram: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        self.telegram = telegram
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """Default seconds to wait for an answer."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to set up: there is no connection pool."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Route the request to the stand-in and return its raw HTTP answer."""
        parts = urlsplit(url)
        # python-telegram-bot percent-encodes the token's colon in file URLs.
        path = unquote(parts.path)
        file_match = _FILE_PATH.search(path)
        if file_match:
            return self.telegram.download(file_match["token"], file_match["path"])
        match = _METHOD_PATH.search(path)
        if match is None:
            return NOT_FOUND.response().status, NOT_FOUND.response().body
        params: dict[str, object] = dict(parse_qsl(parts.query, keep_blank_values=True))
        if request_data is not None:
            params.update(request_data.json_parameters)
        timeout = self._read_timeout if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
        try:
            async with asyncio.timeout(timeout if isinstance(timeout, int | float) else None):
                response = await self.telegram.handle(
                    match["token"], match["method"], params, files_of(request_data)
                )
        except TimeoutError:
            raise TimedOut("Timed out") from None
        except SimulatedConnectionFailure as failure:
            if failure.received:
                raise NetworkError(
                    "httpx.RemoteProtocolError: Server disconnected without sending a response."
                ) from failure
            raise NetworkError("httpx.ConnectError: All connection attempts failed") from failure
        return response.status, response.body
