"""The bot's queue of pending updates, shared by getUpdates and webhook delivery."""

from __future__ import annotations

from collections import deque
from typing import Any

from tests.botapi.changes import ChangeSignal

Update = dict[str, Any]

ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
# What Telegram sends when allowed_updates is empty or was never set.
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


class UpdateQueue:
    """Pending updates in `update_id` order, with Telegram's confirmation rules."""

    def __init__(self, first_update_id: int = 1) -> None:
        self._next_update_id = first_update_id
        self._pending: deque[Update] = deque()
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.created: list[Update] = []
        self.filtered_out = 0
        self.changed = ChangeSignal()

    def __len__(self) -> int:
        return len(self._pending)

    def set_allowed(self, update_types: list[str] | None) -> None:
        """Apply `allowed_updates`; an empty list means Telegram's default set."""
        if update_types is None:
            return
        self.allowed = frozenset(update_types) & ALL_UPDATE_TYPES or DEFAULT_UPDATE_TYPES

    def push(self, update_type: str, payload: dict[str, Any]) -> Update | None:
        """Queue a new update; returns it, or None if `allowed_updates` filters it out."""
        if update_type not in self.allowed:
            self.filtered_out += 1
            return None
        update: Update = {"update_id": self._next_update_id, update_type: payload}
        self._next_update_id += 1
        self._pending.append(update)
        self.created.append(update)
        self.changed.notify()
        return update

    def confirm(self, offset: int) -> None:
        """getUpdates' `offset`: forget updates below it; a negative offset keeps the last -N."""
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
        else:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        self.changed.notify()

    def peek(self, limit: int) -> list[Update]:
        """The oldest `limit` pending updates, left in the queue until confirmed."""
        return [self._pending[index] for index in range(min(limit, len(self._pending)))]

    def first(self) -> Update | None:
        """The oldest pending update."""
        return self._pending[0] if self._pending else None

    def remove_delivered(self, update: Update) -> None:
        """Drop an update the webhook accepted, if it is still at the head of the queue."""
        if self._pending and self._pending[0] is update:
            self._pending.popleft()
            self.changed.notify()

    def take_all(self) -> list[Update]:
        """Remove and return every pending update, as if confirmed."""
        updates = list(self._pending)
        self._pending.clear()
        self.changed.notify()
        return updates

    def clear(self) -> None:
        """`drop_pending_updates`: forget everything pending."""
        self._pending.clear()
        self.changed.notify()
