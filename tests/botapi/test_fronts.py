"""Both fronts carry requests to the core exactly as HTTP would."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot
from telegram.error import InvalidToken
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from tests.botapi import BotApiServer, FakeTelegram, FakeTelegramRequest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


# -- in-process front ----------------------------------------------------------------------


async def test_request_front_returns_raw_status_and_json(fake_telegram: FakeTelegram) -> None:
    request = FakeTelegramRequest(fake_telegram)
    data = RequestData([RequestParameter.from_input("chat_id", 555)])
    status, body = await request.do_request(
        f"https://api.telegram.org/bot{fake_telegram.token}/sendMessage", "POST", data
    )
    assert status == 400
    assert json.loads(body) == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: chat not found",
    }


async def test_wrong_token_is_unauthorized_for_python_telegram_bot(
    fake_telegram: FakeTelegram,
) -> None:
    wrong = "123456789:" + "B" * 35
    bot = Bot(wrong, request=FakeTelegramRequest(fake_telegram))
    with pytest.raises(InvalidToken, match="rejected by the server"):
        await bot.initialize()
    status, _ = await FakeTelegramRequest(fake_telegram).do_request(
        "https://api.telegram.org/botnonsense/getMe", "POST"
    )
    assert status == 404


async def test_request_front_uploads_files_as_multipart(fake_telegram: FakeTelegram) -> None:
    user = fake_telegram.user(1001, has_started=True)
    async with Bot(fake_telegram.token, request=FakeTelegramRequest(fake_telegram)) as bot:
        message = await bot.send_document(user.id, b"weekly summary", filename="week.txt")
        assert message.document is not None
        downloaded = await (await bot.get_file(message.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"weekly summary"
    assert fake_telegram.calls_to("sendDocument")[0].files == ("document",)


# -- HTTP front ----------------------------------------------------------------------------


async def test_http_front_accepts_json_form_and_query_bodies(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer, client: httpx.AsyncClient
) -> None:
    user = fake_telegram.user(1001, has_started=True)
    url = f"{bot_api_server.base_url}{fake_telegram.token}/sendMessage"
    as_json = await client.post(url, json={"chat_id": user.id, "text": "json"})
    as_form = await client.post(
        url,
        data={
            "chat_id": str(user.id),
            "text": "form",
            "reply_markup": json.dumps(
                {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
            ),
        },
    )
    as_query = await client.get(url, params={"chat_id": user.id, "text": "query"})
    assert [r.status_code for r in (as_json, as_form, as_query)] == [200, 200, 200]
    assert as_json.headers["content-type"] == "application/json"
    assert user.texts == ["json", "form", "query"]
    assert user.received()[1].callback_data == ["a"]


async def test_http_front_errors_use_telegrams_status_and_envelope(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer, client: httpx.AsyncClient
) -> None:
    base = bot_api_server.base_url
    no_chat = await client.post(f"{base}{fake_telegram.token}/sendMessage", json={"text": "x"})
    assert (no_chat.status_code, no_chat.json()["description"]) == (
        400,
        "Bad Request: chat_id is empty",
    )
    unknown = await client.post(f"{base}{fake_telegram.token}/launchRocket")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    wrong_token = await client.post(f"{base}42:{'C' * 35}/getMe")
    assert wrong_token.status_code == 401
    elsewhere = await client.get(f"{bot_api_server.url}/favicon.ico")
    assert elsewhere.status_code == 404


async def test_http_front_takes_multipart_uploads_and_serves_downloads(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer, client: httpx.AsyncClient
) -> None:
    user = fake_telegram.user(1001, has_started=True)
    token = fake_telegram.token
    sent = await client.post(
        f"{bot_api_server.base_url}{token}/sendDocument",
        data={"chat_id": str(user.id), "caption": "Your notes"},
        files={"document": ("notes.txt", b"Breathe out slowly", "text/plain")},
    )
    document = sent.json()["result"]["document"]
    assert document["file_name"] == "notes.txt"
    info = await client.post(
        f"{bot_api_server.base_url}{token}/getFile", json={"file_id": document["file_id"]}
    )
    path = info.json()["result"]["file_path"]
    download = await client.get(f"{bot_api_server.base_file_url}{token}/{path}")
    assert download.content == b"Breathe out slowly"


async def test_http_front_keeps_connections_alive_and_reads_chunked_bodies(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer, client: httpx.AsyncClient
) -> None:
    user = fake_telegram.user(1001, has_started=True)
    url = f"{bot_api_server.base_url}{fake_telegram.token}/sendMessage"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"chat_id": 1001, '
        yield b'"text": "chunked"}'

    chunked = await client.post(url, content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 200
    for number in range(3):
        await client.post(url, json={"chat_id": user.id, "text": f"n{number}"})
    assert user.texts == ["chunked", "n0", "n1", "n2"]
    assert bot_api_server.requests_served == 4


async def test_http_front_breaks_the_connection_for_network_faults(
    fake_telegram: FakeTelegram, bot_api_server: BotApiServer, client: httpx.AsyncClient
) -> None:
    user = fake_telegram.user(1001, has_started=True)
    url = f"{bot_api_server.base_url}{fake_telegram.token}/sendMessage"
    fake_telegram.faults.add(kind="drop_after_accept", method="sendMessage")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(url, json={"chat_id": user.id, "text": "delivered, answer lost"})
    assert user.texts == ["delivered, answer lost"]
    fake_telegram.faults.add(kind="network", method="sendMessage")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(url, json={"chat_id": user.id, "text": "never arrives"})
    assert user.texts == ["delivered, answer lost"]
    # The server is still there for the next request.
    ok = await client.post(url, json={"chat_id": user.id, "text": "fine again"})
    assert ok.status_code == 200


async def test_server_close_ends_long_polls_in_progress(fake_telegram: FakeTelegram) -> None:
    server = BotApiServer(fake_telegram)
    await server.start()
    async with httpx.AsyncClient(trust_env=False) as client:
        poll = asyncio.create_task(
            client.post(
                f"{server.base_url}{fake_telegram.token}/getUpdates",
                json={"timeout": 30},
                timeout=60,
            )
        )
        await fake_telegram.updates.changed.wait_for(
            lambda: fake_telegram._poll_generation == 1, timeout=2
        )
        await server.close()
        with pytest.raises(httpx.RemoteProtocolError):
            await asyncio.wait_for(poll, timeout=2)
