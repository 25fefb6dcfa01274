"""An import by someone with a scope (a region's admin, a manager, `--as USER`): the rows
that would touch a home, mailbox or account outside it, as SQL over the staged rows. The
engine (imports.py) turns each into an error on its line."""

from django.db import connection

from ..scoping import ImportScope
from . import bulk

# The writer's scope, loaded once per import so the checks are joins.
SCOPE_HOMES, SCOPE_REGIONS = "import_scope_homes", "import_scope_regions"


def _load(scope: ImportScope) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {SCOPE_HOMES} (id integer PRIMARY KEY)")
        cursor.execute(f"CREATE TEMPORARY TABLE {SCOPE_REGIONS} (name text PRIMARY KEY)")
    homes = scope.homes.order_by().values_list("id").iterator(chunk_size=bulk.CHUNK)
    bulk.load(SCOPE_HOMES, ["id"], homes)
    bulk.load(SCOPE_REGIONS, ["name"], scope.regions.order_by().values_list("name").distinct())


def scope_checks(kind: str, scope: ImportScope, stage: str, links: str) -> list[str]:
    """Rows that would touch a home, mailbox or account outside the writer's scope. The
    messages never name another home, and treat a home or mailbox outside the scope exactly
    as one that does not exist. An address already used outside the scope cannot be told
    apart from a new one without refusing it, so it is refused with one wording whatever
    home holds it."""
    _load(scope)
    mine = f"IN (SELECT id FROM {SCOPE_HOMES})"
    if kind == "homes":
        return [
            f"""SELECT s.line, 'ods_code', s.ods_code || ' is not one of your homes'
                FROM {stage} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
                WHERE h.id NOT {mine}""",
            f"""SELECT s.line, 'region',
                'only an admin for every region can move a home to another region'
                FROM {stage} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
                LEFT JOIN accounts_region r ON r.id = h.region_id
                WHERE h.id {mine} AND s.region IS NOT NULL
                AND (r.name IS NULL OR r.name <> s.region)""",
            f"""SELECT s.line, 'region', CASE WHEN s.region IS NULL
                    THEN 'is empty: a home you add must be in one of your regions'
                    ELSE 'is not one of your regions' END
                FROM {stage} s WHERE NOT EXISTS
                    (SELECT 1 FROM accounts_carehome h WHERE h.ods_code = s.ods_code)
                AND (s.region IS NULL OR s.region NOT IN (SELECT name FROM {SCOPE_REGIONS}))""",
        ]
    table = "accounts_sharedmailbox" if kind == "mailboxes" else "accounts_staffaccount"
    checks = [
        f"""SELECT s.line, 'ods_code', s.ods_code || ' is not one of your homes'
            FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM accounts_carehome h
                WHERE h.ods_code = s.ods_code AND h.id {mine})""",
        f"""SELECT s.line, 'email', 'this address is not in one of your homes'
            FROM {stage} s JOIN {table} t ON t.email = s.email WHERE t.home_id NOT {mine}""",
    ]
    if kind == "accounts":
        checks += [
            f"""SELECT l.line, 'shared_mailboxes', 'no shared mailbox ' || l.mailbox
                || ' (import mailboxes first)'
                FROM {links} l WHERE l.mailbox IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM accounts_sharedmailbox m WHERE m.email = l.mailbox
                    AND m.home_id {mine})""",
            f"""SELECT l.line, 'shared_mailboxes', l.mailbox
                || ' belongs to another of your homes (' || h.ods_code || '), not ' || s.ods_code
                FROM {links} l JOIN {stage} s ON s.line = l.line
                JOIN accounts_sharedmailbox m ON m.email = l.mailbox
                JOIN accounts_carehome h ON h.id = m.home_id
                WHERE h.id {mine} AND h.ods_code <> s.ods_code""",
        ]
    return checks
