"""``steady chat``: the same dialogues in a terminal.

Options print as a numbered list; typing the number or the label picks it. Works interactively
and with piped input (it reads until the end of input, then exits 0), so it can be scripted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from dialogues.answers import match_option, normalise
from dialogues.core import Event, Option, Reply
from prompts.rendering import html_to_plain, render_html

Handler = Callable[[Event], Awaitable[list[Reply]]]


class TerminalChat:
    """Reads lines, turns them into events, prints the replies."""

    def __init__(self, handle: Handler, out: TextIO, export_dir: Path) -> None:
        self._handle = handle
        self._out = out
        self._export_dir = export_dir
        self._options: tuple[Option, ...] = ()
        self._token: int | None = None

    async def send(self, event: Event) -> None:
        """Handle one event and print what comes back."""
        for reply in await self._handle(event):
            self._show(reply)

    def event_for(self, line: str) -> Event | None:
        """What a typed line means: a command, a pick from the last options, or text."""
        text = normalise(line)
        if not text:
            return None
        if text.startswith("/") and len(text) > 1:
            return Event.command(text[1:].split()[0].split("@")[0])
        number = text
        if number.isdigit() and self._options and not _all_numeric(self._options):
            index = int(number)
            if 1 <= index <= len(self._options):
                return Event.choice(self._options[index - 1].value, self._token)
        picked = match_option(text, self._options)
        if picked is not None and _is_exact(text, picked):
            return Event.choice(picked.value, self._token)
        return Event.text(line.rstrip("\r\n"))

    def _show(self, reply: Reply) -> None:
        print(html_to_plain(render_html(reply.template, reply.data)), file=self._out)
        if reply.attachment is not None:
            self._export_dir.mkdir(parents=True, exist_ok=True)
            path = self._export_dir / reply.attachment.filename
            path.write_bytes(reply.attachment.content)
            path.chmod(0o600)
            print(f"(Saved to {path})", file=self._out)
        if reply.options or reply.controls:
            self._options, self._token = reply.options, reply.token
        if reply.options and not _all_numeric(reply.options):
            for number, option in enumerate(reply.options, start=1):
                print(f"  {number}. {option.label}", file=self._out)
        elif reply.options:
            print(f"  ({reply.options[0].label} to {reply.options[-1].label})", file=self._out)
        if reply.controls:
            print("  " + "  ".join(f"/{c}" for c in reply.controls), file=self._out)
        print(file=self._out)
        self._out.flush()


def _all_numeric(options: tuple[Option, ...]) -> bool:
    return all(o.label.isdigit() for o in options)


def _is_exact(text: str, option: Option) -> bool:
    """Only a label typed in full counts as a pick; partial words stay the practitioner's text."""
    folded = normalise(text).casefold().rstrip(".!")
    return folded in (normalise(option.label).casefold(), option.value.casefold())


async def run_terminal(
    handle: Handler,
    source: TextIO,
    out: TextIO,
    *,
    export_dir: Path,
    opening: Event | None = None,
) -> int:
    """Chat until the end of input; return the exit status (0)."""
    chat = TerminalChat(handle, out, export_dir)
    interactive = source.isatty()
    if opening is not None:
        await chat.send(opening)
    while True:
        if interactive:
            print("> ", end="", file=out, flush=True)
        line = await asyncio.to_thread(source.readline)
        if line == "":
            break
        event = chat.event_for(line)
        if event is not None:
            await chat.send(event)
    return 0
