"""What the busiest pages show, kept in the cache until a write changes it: the worklist's
counts (each to-do's people per log-in date, the mailboxes to call about) and its pages, the
admin dashboard's counts and page of homes, and a home's page below its name.

Counting the worklist is the cost of its page (about 0.9 s for 643,666 people at 1.5
million accounts), and what these pages show changes only when something writes: a check
(national, or a recheck of some homes), a manager's action, an import, an edit in /admin/.
Each of these calls changed() in its own transaction, which gives every region it touched
a new version (table WorklistVersion); any other save or delete of a home, account,
mailbox or link through the ORM does so once it commits (connect()). What is kept is kept
under the versions read before it was computed, so a write that commits meanwhile leaves
it under versions nobody asks for again. A region admin's counts outlive writes in other
regions."""

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from . import todos
from .models import (
    CareHome,
    CheckRun,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    User,
    WorklistVersion,
)

NO_REGION = 0  # the region key of homes without a region
EVERY_HOME = "every home"  # versions_for() of those who see every home
BUMP_ALL_ABOVE = 500  # more homes than this: every region gets a new version
KEEP_SECONDS = 7 * 24 * 3600  # unasked-for counts leave the cache after a week
# Pages (a home's, a page of homes or people) are larger and many: a day, as the nightly
# check gives every region a new version anyway.
PAGE_SECONDS = 24 * 3600

T = TypeVar("T")
log = logging.getLogger(__name__)


def changed(home_ids: Iterable[int] | None = None) -> None:
    """Say, inside the writing transaction, that the to-dos of these homes (None: of every
    home) may have changed. Call it last in the transaction: it locks its regions' version
    rows until the commit, so a write elsewhere in the region waits only for the commit."""
    ids = None if home_ids is None else list(home_ids)
    if ids is None or len(ids) > BUMP_ALL_ABOVE:
        keys = {NO_REGION, *Region.objects.values_list("pk", flat=True)}
    else:
        regions = CareHome.objects.filter(pk__in=ids).values_list("region_id", flat=True)
        keys = {region or NO_REGION for region in regions}
    if not keys:
        return
    # A version never given out before (not a count that a database restored from a backup
    # could reach again), written in key order so that two writers never wait in turn.
    rows = [value for key in sorted(keys) for value in (key, secrets.randbits(63))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WorklistVersion._meta.db_table} (region_key, version) VALUES "
            f"{', '.join(['(%s, %s)'] * len(keys))} "
            "ON CONFLICT (region_key) DO UPDATE SET version = excluded.version",
            rows,
        )


def _after_commit(home_ids: Iterable[int] | None = None) -> None:
    """changed() for what an ORM save or delete wrote, once its transaction commits (at
    once outside one). Not in the transaction: a save there would lock its region's version
    row before the door's own changed() locks the rest in order, and two such writers could
    each wait for the other. After the commit is as safe for what is kept: a page counted
    meanwhile is kept under the version this replaces."""
    ids = None if home_ids is None else list(home_ids)
    transaction.on_commit(partial(changed, ids), robust=True)


def _moving(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Before an account or mailbox is saved: the home it leaves, if it moves."""
    instance._home_before = None
    moves = update_fields is None or {"home", "home_id"} & set(update_fields)
    if not raw and instance.pk and moves:
        before = sender.objects.filter(pk=instance.pk).values_list("home_id", flat=True)
        instance._home_before = before.first()


def _saved(sender, instance, raw=False, **kwargs) -> None:
    """An account or mailbox saved through the ORM anywhere (a manager's action, a form,
    the shell) is a write to its home, and to the home it left: the doors that write in
    bulk SQL call changed()."""
    if not raw:
        before = getattr(instance, "_home_before", None)
        _after_commit({instance.home_id, *([before] if before else [])})


def _home_saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        _after_commit()  # a home that moves region changes both regions


def _link_saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:
        mailboxes = SharedMailbox.objects.filter(pk=instance.mailbox_id)
        _after_commit(mailboxes.values_list("home_id", flat=True))


def _named(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """A region's name, and a user's name or email (who asked for a removal, who saw a
    log-in), are on kept pages; a user's log-in or preferences are not."""
    shown = {"name", "full_name", "email"}
    if not raw and (update_fields is None or shown & set(update_fields)):
        _after_commit()


def _run_saved(sender, instance, raw=False, **kwargs) -> None:
    """The last national check that ended well is on every kept page (its date): run_check
    renews every version as it ends; so does any other save or deletion of a national run
    (whatever its outcome now: it may have been the one that ended well)."""
    if not raw and instance.home_id is None and instance.scope_homes is None:
        _after_commit()


def _deleted(sender, instance, origin=None, **kwargs) -> None:
    """As _saved, for what is deleted on its own. A deletion of a home or of homes (a
    queryset) renews every region once, for the homes and all that goes with them (not once
    for each of their thousands of accounts)."""
    if isinstance(origin, CareHome):  # a home: renewed by its own signal
        if instance is origin:
            _after_commit()
        return
    if getattr(origin, "model", None) is CareHome:  # homes, as a queryset: its first row's
        if not getattr(origin, "_versions_renewed", False):
            origin._versions_renewed = True
            _after_commit()
        return
    if isinstance(instance, User):  # its SET_NULL on accounts sends no signal
        _after_commit()
    elif isinstance(instance, MailboxLink):
        _link_saved(sender, instance)
    else:
        _after_commit([instance.home_id])


def _links_changed(sender, instance, action, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        _after_commit([instance.home_id])  # an account's or a mailbox's links


def connect() -> None:
    """Every ORM write to what the kept pages show renews its regions' versions
    (AccountsConfig.ready): homes, accounts, mailboxes, their links, regions, users and
    national checks that ended well."""
    for model in (StaffAccount, SharedMailbox):
        uid = model.__name__
        pre_save.connect(_moving, sender=model, dispatch_uid=f"versions_moving_{uid}")
        post_save.connect(_saved, sender=model, dispatch_uid=f"versions_saved_{uid}")
    post_save.connect(_home_saved, sender=CareHome, dispatch_uid="versions_saved_CareHome")
    post_save.connect(_link_saved, sender=MailboxLink, dispatch_uid="versions_saved_MailboxLink")
    for model in (Region, User):
        post_save.connect(_named, sender=model, dispatch_uid=f"versions_named_{model.__name__}")
    for model in (CareHome, StaffAccount, SharedMailbox, MailboxLink, User):
        uid = model.__name__
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"versions_deleted_{uid}")
    m2m_changed.connect(_links_changed, sender=MailboxLink, dispatch_uid="versions_links")
    post_save.connect(_run_saved, sender=CheckRun, dispatch_uid="versions_saved_CheckRun")
    post_delete.connect(_run_saved, sender=CheckRun, dispatch_uid="versions_deleted_CheckRun")


def versions_for(user, region: Region | None) -> tuple | None:
    """(EVERY_HOME or "regions", ((region key, version), ...)) for the regions whose homes
    make up this user's worklist (with `region`, that one; a region never written to has
    version None): for those who see every home, every region and NO_REGION. None when
    their homes are not whole regions (a manager's)."""
    if region is None and user.sees_every_home:
        regions, versions = Region._meta.db_table, WorklistVersion._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.id, v.version FROM {regions} r "
                f"LEFT JOIN {versions} v ON v.region_key = r.id UNION ALL "
                f"SELECT %s, (SELECT version FROM {versions} WHERE region_key = %s) ORDER BY 1",
                [NO_REGION, NO_REGION],
            )
            return (EVERY_HOME, tuple(cursor.fetchall()))
    if region is not None:
        return _versions_of(region.pk)
    if user.is_admin:
        regions = user.regions.all()
    else:
        return None
    version = WorklistVersion.objects.filter(region_key=OuterRef("pk")).values("version")
    return ("regions", tuple(regions.order_by("pk").values_list("pk", Subquery(version))))


def versions_of_home(home) -> tuple:
    """versions_for() the region of one home: what its page is kept under."""
    return _versions_of(home.region_id or NO_REGION)


def _versions_of(key: int) -> tuple:
    version = WorklistVersion.objects.filter(region_key=key).values_list("version", flat=True)
    return ("regions", ((key, version.first()),))


# The shape of what is kept: a release that changes it (MAILBOX_FIELDS, the counts' tuples,
# a kept page's rows or markup) raises this, so an entry of the old shape is never read
# back; settings.VERSION is in the key as well.
SHAPE = 2


def _cache_key(what, versions: tuple) -> str:
    name = repr((SHAPE, settings.VERSION, what, versions, todos.depends_on())).encode()
    return f"worklist:{hashlib.sha256(name).hexdigest()}"


def kept(versions: tuple | None, what, compute: Callable[[], T], seconds: int = KEEP_SECONDS) -> T:
    """compute()'s answer (`what` names it) for the homes of these regions, from the cache
    while no write has given them a new version since it was computed (and for `seconds`
    at most)."""
    if versions is None:
        return compute()
    cache_key = _cache_key(what, versions)
    try:
        found = cache.get(cache_key)
    except Exception as exc:  # the cache is down: the page still answers, counting anew
        log.warning("worklist: cache unreachable (%s); counting anew", exc)
        return compute()
    if found is None:
        found = compute()
        try:
            cache.set(cache_key, found, seconds)
        except Exception as exc:
            log.warning("worklist: cache unreachable (%s); not kept", exc)
    return found


def kept_each(versions: tuple, what, compute: Callable[[list[int]], dict[int, T]]) -> dict[int, T]:
    """Region key -> compute()'s answer for that region's homes, each kept as kept() keeps
    one region's (so a region's worklist page shares it): after a write in one region,
    compute() is asked for that region alone."""
    names = {key: _cache_key(what, ("regions", ((key, version),))) for key, version in versions}
    try:
        found = cache.get_many(list(names.values()))
    except Exception as exc:  # the cache is down: the page still answers, counting anew
        log.warning("worklist: cache unreachable (%s); counting anew", exc)
        return compute(list(names))
    answers = {key: found[name] for key, name in names.items() if name in found}
    missing = [key for key in names if key not in answers]
    if missing:
        counted = compute(missing)
        answers.update(counted)
        try:
            cache.set_many({names[key]: counted[key] for key in missing}, KEEP_SECONDS)
        except Exception as exc:
            log.warning("worklist: cache unreachable (%s); not kept", exc)
    return answers
