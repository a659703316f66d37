"""Telegram's `parse_mode=HTML`: turns HTML into plain text plus entities, or refuses it.

A port of tdlib's `parse_html`, with the same error wording, so a template that Telegram would
reject fails the same way here. Errors are raised as `HtmlParseError`; the core wraps them in
"Bad Request: can't parse entities: ...".

One deliberate difference: Telegram's documentation says every `&` that does not start an HTML
entity must be escaped, but the real server quietly keeps a bare `&`. With
`strict_ampersand=True` (the default) the stand-in enforces the documented rule, which catches
text that skipped escaping even when it happens to contain no `<`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.botapi.text import Entity, sort_entities, utf16_len

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "tg-emoji",
        "code",
        "pre",
        "blockquote",
    }
)

_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\f\v"
_MAX_CODE_POINT = 0x10FFFF


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; the message is tdlib's wording."""


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def _decode_entity(source: str, index: int) -> tuple[str, int] | None:
    """Decode the HTML entity starting at `source[index] == "&"`; the `;` is optional."""
    end = index + 1
    if source.startswith("#", end):
        end += 1
        hexadecimal = source.startswith("x", end)
        if hexadecimal:
            end += 1
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while end < len(source) and source[end] in digits:
            end += 1
        if end == start or end - index >= 10:
            return None
        code_point = int(source[start:end], 16 if hexadecimal else 10)
        if code_point == 0 or code_point >= _MAX_CODE_POINT or 0xD800 <= code_point <= 0xDFFF:
            return None
        decoded = chr(code_point)
    else:
        while end < len(source) and source[end].isascii() and source[end].isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(source[index + 1 : end])
        if named is None:
            return None
        decoded = named
    if source.startswith(";", end):
        end += 1
    return decoded, end


def parse_html(source: str, *, strict_ampersand: bool = True) -> tuple[str, list[Entity]]:
    """Parse Telegram HTML into `(plain_text, entities)`; raise `HtmlParseError` if invalid."""
    parser = _HtmlParser(source, strict_ampersand=strict_ampersand)
    return parser.parse()


class _HtmlParser:
    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.source = source
        self.strict_ampersand = strict_ampersand
        self.pos = 0
        self.out: list[str] = []
        self.utf16_offset = 0
        self.open_tags: list[_OpenTag] = []
        self.entities: list[Entity] = []

    def parse(self) -> tuple[str, list[Entity]]:
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == "&":
                decoded = _decode_entity(source, self.pos)
                if decoded is not None:
                    self._emit(decoded[0])
                    self.pos = decoded[1]
                    continue
                if self.strict_ampersand:
                    raise HtmlParseError(
                        'Character "&" is reserved and must be escaped as "&amp;" '
                        f"at byte offset {_byte_offset(source, self.pos)}"
                    )
            if char != "<":
                self._emit(char)
                self.pos += 1
                continue
            begin = self.pos
            self.pos += 1
            if self.pos < len(source) and source[self.pos] == "/":
                self._end_tag(begin)
            else:
                self._start_tag(begin)
        if self.open_tags:
            name = self.open_tags[-1].name
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{name}"')
        entities = [
            {key: value for key, value in entity.items() if not key.startswith("_")}
            for entity in self.entities
        ]
        return "".join(self.out), sort_entities(entities)

    def _emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16_offset += utf16_len(text)

    def _at_end(self) -> bool:
        return self.pos >= len(self.source)

    def _skip_spaces(self) -> None:
        while not self._at_end() and self.source[self.pos] in _SPACES:
            self.pos += 1

    def _start_tag(self, begin: int) -> None:
        source = self.source
        offset = _byte_offset(source, begin)
        while not self._at_end() and source[self.pos] not in _SPACES and source[self.pos] != ">":
            self.pos += 1
        if self._at_end():
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
        name = source[begin + 1 : self.pos].lower()
        if name not in ALLOWED_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {offset}')
        argument = ""
        while True:
            self._skip_spaces()
            if self._at_end():
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
            if source[self.pos] == ">":
                break
            attribute, value = self._attribute(name, offset)
            argument = _tag_argument(name, attribute, value, argument)
        if name == "span" and argument != "spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        self.pos += 1
        self.open_tags.append(_OpenTag(name, argument, self.utf16_offset))

    def _attribute(self, tag: str, offset: int) -> tuple[str, str]:
        source = self.source
        name_start = self.pos
        while not self._at_end() and source[self.pos] not in _SPACES + "=>":
            self.pos += 1
        attribute = source[name_start : self.pos]
        if not attribute:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
        self._skip_spaces()
        if (
            tag == "blockquote"
            and attribute.lower() == "expandable"
            and not (not self._at_end() and source[self.pos] == "=")
        ):
            # The one attribute Telegram accepts without a value: <blockquote expandable>.
            return "expandable", ""
        if self._at_end() or source[self.pos] != "=":
            raise HtmlParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {offset}'
            )
        self.pos += 1
        self._skip_spaces()
        if self._at_end():
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
        if source[self.pos] in "'\"":
            value = self._quoted_value()
        else:
            token_start = self.pos
            while not self._at_end() and (
                (source[self.pos].isascii() and source[self.pos].isalnum())
                or source[self.pos] in ".-"
            ):
                self.pos += 1
            value = source[token_start : self.pos].lower()
            if self._at_end() or (source[self.pos] not in _SPACES and source[self.pos] != ">"):
                token_offset = _byte_offset(source, token_start)
                raise HtmlParseError(f"Unexpected end of name token at byte offset {token_offset}")
        if self._at_end():
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
        return attribute.lower(), value

    def _quoted_value(self) -> str:
        source = self.source
        quote = source[self.pos]
        self.pos += 1
        chars: list[str] = []
        while not self._at_end() and source[self.pos] != quote:
            if source[self.pos] == "&":
                decoded = _decode_entity(source, self.pos)
                if decoded is not None:
                    chars.append(decoded[0])
                    self.pos = decoded[1]
                    continue
            chars.append(source[self.pos])
            self.pos += 1
        if not self._at_end():
            self.pos += 1
        return "".join(chars)

    def _end_tag(self, begin: int) -> None:
        source = self.source
        offset = _byte_offset(source, begin)
        if not self.open_tags:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        self.pos += 1
        name_start = self.pos
        while not self._at_end() and source[self.pos] not in _SPACES and source[self.pos] != ">":
            self.pos += 1
        end_name = source[name_start : self.pos].lower()
        self._skip_spaces()
        if self._at_end() or source[self.pos] != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
        self.pos += 1
        tag = self.open_tags.pop()
        if end_name and end_name != tag.name:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                f'found "</{end_name}>"'
            )
        self._close(tag)

    def _close(self, tag: _OpenTag) -> None:
        length = self.utf16_offset - tag.utf16_start
        if length <= 0:
            return
        entity: Entity = {"offset": tag.utf16_start, "length": length}
        if tag.name in _SIMPLE_ENTITY_TYPES:
            entity["type"] = _SIMPLE_ENTITY_TYPES[tag.name]
            if tag.name == "code" and tag.argument:
                # Remembered only so an enclosing <pre> can take the language.
                entity["_language"] = tag.argument
        elif tag.name == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == entity["offset"]
                and last["length"] == length
                and "_language" in last
            ):
                self.entities.pop()
                entity.update(type="pre", language=last["_language"])
            else:
                entity["type"] = "pre"
        elif tag.name == "blockquote":
            entity["type"] = "expandable_blockquote" if tag.argument else "blockquote"
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit():
                raise HtmlParseError("Invalid custom emoji identifier specified")
            entity.update(type="custom_emoji", custom_emoji_id=tag.argument)
        else:  # "a"
            text = "".join(self.out)
            url = tag.argument or _tail_utf16(text, length)
            entity.update(type="text_link", url=_normalise_url(url))
        self.entities.append(entity)


def _tag_argument(tag: str, attribute: str, value: str, current: str) -> str:
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "1"
    return current


def _tail_utf16(text: str, length: int) -> str:
    encoded = text.encode("utf-16-le")
    return encoded[len(encoded) - 2 * length :].decode("utf-16-le")


def _normalise_url(url: str) -> str:
    # Telegram adds a scheme to bare domains ("example.org" -> "http://example.org/").
    if "://" in url or url.startswith(("mailto:", "tg:")):
        return url
    return f"http://{url}/" if "/" not in url else f"http://{url}"
