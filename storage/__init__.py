"""Persistence for Steady: users, sealed conversation state, entries and consent facts.

Storage knows nothing of dialogues. Free text is sealed per user (``storage.crypto``) before
it reaches the database; repositories flush but never commit.
"""

from __future__ import annotations

from storage.crypto import (
    DecryptionError,
    KeyDestroyedError,
    KeyRing,
    MasterKeyError,
    Sealer,
    load_or_create_master_key,
)
from storage.database import (
    create_engine,
    ensure_data_dir,
    migrate,
    session_factory,
    sqlite_url,
)
from storage.models import Base, Conversation, Entry, User, UserKey
from storage.repositories import (
    ConversationConflictError,
    ConversationRepository,
    EntryNotFoundError,
    EntryRepository,
    EntryView,
    UserRepository,
    Vault,
)

# Imported here so the channel's tables are always part of Base.metadata (migrations compare it).
from storage.telegram_models import OutboxMessage, TelegramUpdate

__all__ = [
    "Base",
    "Conversation",
    "ConversationConflictError",
    "ConversationRepository",
    "DecryptionError",
    "Entry",
    "EntryNotFoundError",
    "EntryRepository",
    "EntryView",
    "KeyDestroyedError",
    "KeyRing",
    "MasterKeyError",
    "OutboxMessage",
    "Sealer",
    "TelegramUpdate",
    "User",
    "UserKey",
    "UserRepository",
    "Vault",
    "create_engine",
    "ensure_data_dir",
    "load_or_create_master_key",
    "migrate",
    "session_factory",
    "sqlite_url",
]
