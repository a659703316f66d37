"""Persistence for Steady: users, sealed conversation state, entries and consent facts.

Storage knows nothing of dialogues. Free text is sealed per user (``storage.crypto``) before
it reaches the database; repositories flush but never commit.
"""

from __future__ import annotations

# Imported here so the check-in tables are always part of Base.metadata (migrations compare it).
from storage.checkin_models import CheckinAnswer, CheckinDelivery, CheckinSchedule, FollowUp
from storage.checkins import CheckinAnswerRepository, PendingFollowUp
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
    "CheckinAnswer",
    "CheckinAnswerRepository",
    "CheckinDelivery",
    "CheckinSchedule",
    "Conversation",
    "ConversationConflictError",
    "ConversationRepository",
    "DecryptionError",
    "Entry",
    "EntryNotFoundError",
    "EntryRepository",
    "EntryView",
    "FollowUp",
    "KeyDestroyedError",
    "KeyRing",
    "MasterKeyError",
    "OutboxMessage",
    "PendingFollowUp",
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
