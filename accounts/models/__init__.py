from .homes import (
    CareHome,
    CareHomeQuerySet,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    User,
    UserManager,
    validate_ods_code,
)
from .records import (
    AuditEntry,
    CheckRun,
    ImportRecord,
    MailboxAliveChange,
    Notification,
    PendingCheck,
    StateChange,
)

__all__ = [
    "AuditEntry",
    "CareHome",
    "CareHomeQuerySet",
    "CheckRun",
    "ImportRecord",
    "MailboxAliveChange",
    "MailboxLink",
    "Notification",
    "PendingCheck",
    "Region",
    "SharedMailbox",
    "StaffAccount",
    "StateChange",
    "User",
    "UserManager",
    "validate_ods_code",
]
