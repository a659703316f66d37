"""Telegram HTML parsing: what the bot's formatted messages become, and what Telegram refuses."""

import pytest

from tests.botapi.html import HtmlParseError, parse_html


def test_allowed_tags_become_entities_and_disappear_from_the_text() -> None:
    text, entities = parse_html(
        "<b>Bold</b> <strong>strong</strong> <i>it</i> <em>em</em> <u>u</u> <ins>ins</ins> "
        "<s>s</s> <strike>st</strike> <del>del</del> <tg-spoiler>sp</tg-spoiler> "
        '<span class="tg-spoiler">sp2</span> <code>c</code> <blockquote>q</blockquote>'
    )
    assert text == "Bold strong it em u ins s st del sp sp2 c q"
    assert [entity["type"] for entity in entities] == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "code",
        "blockquote",
    ]


def test_links_pre_blocks_and_custom_emoji_carry_their_arguments() -> None:
    text, entities = parse_html(
        '<a href="https://www.nhs.uk/?a=1&amp;b=2">NHS</a> '
        '<pre><code class="language-python">x = 1</code></pre> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
    )
    assert text == "NHS x = 1 👍"
    assert entities == [
        {"offset": 0, "length": 3, "type": "text_link", "url": "https://www.nhs.uk/?a=1&b=2"},
        {"offset": 4, "length": 5, "type": "pre", "language": "python"},
        {
            "offset": 10,
            "length": 2,
            "type": "custom_emoji",
            "custom_emoji_id": "5368324170671202286",
        },
    ]


def test_escaped_characters_are_decoded() -> None:
    text, _ = parse_html("a &lt; b &amp;&amp; c &gt; d &quot;q&quot; &#169; &#x1F600;")
    assert text == 'a < b && c > d "q" © 😀'


def test_offsets_are_counted_in_utf16_units_like_telegram() -> None:
    _, entities = parse_html("😀 <b>kind</b>")
    assert entities == [{"offset": 3, "length": 4, "type": "bold"}]


def test_nested_tags_give_outer_entity_first() -> None:
    _, entities = parse_html("<b>well <i>done</i></b>")
    assert entities == [
        {"offset": 0, "length": 9, "type": "bold"},
        {"offset": 5, "length": 4, "type": "italic"},
    ]


def test_expandable_blockquote_needs_no_attribute_value() -> None:
    _, entities = parse_html("<blockquote expandable>long</blockquote>")
    assert entities[0]["type"] == "expandable_blockquote"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<div>x</div>", 'Unsupported start tag "div" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("Hello <b>there", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("ends with <", "Unclosed start tag at byte offset 10"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a"'),
        ("AT&T", 'Character "&" is reserved and must be escaped as "&amp;" at byte offset 2'),
        ("é <b>x</i>", 'Unmatched end tag at byte offset 7, expected "</b>"'),  # é is 2 bytes
    ],
)
def test_invalid_html_is_refused_with_telegrams_wording(source: str, error: str) -> None:
    with pytest.raises(HtmlParseError) as raised:
        parse_html(source)
    assert error in str(raised.value)


def test_bare_ampersand_is_accepted_when_not_strict_like_the_real_server() -> None:
    assert parse_html("AT&T", strict_ampersand=False) == ("AT&T", [])


def test_empty_tags_give_no_entity() -> None:
    assert parse_html("<b></b>x") == ("x", [])
