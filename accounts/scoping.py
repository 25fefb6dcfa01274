"""Two doors per object: everything a signed-in user reads is loaded through the read door
(`homes_for`, `get_home_for_user`, ...), everything anyone changes through the write door
(`writable_homes_for`, `get_home_for_writer`, `get_account_for_writer`, `import_scope_for`,
`get_account_for_check_in`, `get_user_for_writer`). Out of scope is 404, or a line error in
an import that says nothing about the other home.

Who may write what:
- a manager: the actions on the accounts of their own homes;
- a regional admin: the actions and imports within the homes of their regions, and new homes
  in those regions; never moving a home to another region;
- an admin for every region (or a superuser), and an operator at the command line without
  `--as`: anything, including a home's region;
- a check-in link: its own account's check-in and reminder choice, nothing else;
- every sign-in: its own email preferences.
"""

from dataclasses import dataclass
from functools import wraps

from django.db.models import QuerySet
from django.http import Http404

from .models import CareHome, ImportRecord, Region, SharedMailbox, StaffAccount
from .notify import read_check_in_token
from .rules import normalise_ods_code


def homes_for(user):
    return CareHome.objects.for_user(user)


def get_home_for_user(user, ods_code: str) -> CareHome:
    """The home with this ODS code if the user may see it; 404 otherwise (never 403, so
    the existence of other homes is not revealed)."""
    return _home_in(homes_for(user), ods_code)


def _home_in(homes, ods_code: str) -> CareHome:
    home = homes.select_related("region").filter(ods_code=normalise_ods_code(ods_code)).first()
    if home is None:
        raise Http404("No such care home.")
    return home


def accounts_for(user):
    return StaffAccount.objects.filter(home__in=homes_for(user))


def mailboxes_for(user):
    return SharedMailbox.objects.filter(home__in=homes_for(user))


# The write door --------------------------------------------------------------------------


def writable_homes_for(user):
    """The homes whose people, mailboxes and details this user may change. Today these are
    the homes they may see; a read-only sign-in would differ here, and only here."""
    if not user.is_authenticated or not user.is_active:
        return CareHome.objects.none()
    return CareHome.objects.for_user(user)


def get_home_for_writer(user, ods_code: str) -> CareHome:
    """The home with this ODS code if the user may change it; 404 otherwise."""
    return _home_in(writable_homes_for(user), ods_code)


def get_account_for_writer(user, ods_code: str, account_id: int) -> StaffAccount:
    """A staff account of a home the user may change, for an action; 404 for an account of
    any other home, even one the URL pairs with a home of theirs."""
    home = get_home_for_writer(user, ods_code)
    account = StaffAccount.objects.filter(pk=account_id, home=home).first()
    if account is None:
        raise Http404("No such account.")
    account.home = home
    return account


def get_account_for_check_in(token: str):
    """The reminder behind a check-in link and the one account it may change: the token is
    the credential, so its account is the whole of its scope. Raises as
    notify.read_check_in_token does for a bad, old or unknown link."""
    reminder = read_check_in_token(token)
    return reminder, reminder.account


def get_user_for_writer(user):
    """A sign-in changes only its own settings (there is no id to name anyone else)."""
    if not user.is_authenticated or not user.is_active:
        raise Http404("Not found.")
    return user


@dataclass(frozen=True)
class ImportScope:
    """What an import may touch. `homes` are the homes it may change (None: every home);
    `regions` are those a new home may be put in (None: any, and a home may change region)."""

    homes: QuerySet | None
    regions: QuerySet | None

    @property
    def unscoped(self) -> bool:
        return self.homes is None


EVERYTHING = ImportScope(homes=None, regions=None)
NOTHING = ImportScope(homes=CareHome.objects.none(), regions=Region.objects.none())


def import_scope_for(user) -> ImportScope:
    """The scope of an import by this user; None is an operator at the command line."""
    if user is None:
        return EVERYTHING
    if not user.is_active:
        return NOTHING
    if user.sees_every_home:
        return EVERYTHING
    regions = user.regions.all() if user.is_admin else Region.objects.none()
    return ImportScope(homes=writable_homes_for(user), regions=regions)


def admin_only(view):
    """Admins only: anyone else gets 404, as for anything out of their scope. Put it under
    @login_required, so that anonymous visitors are sent to sign in first."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_admin:
            raise Http404("Not found.")
        return view(request, *args, **kwargs)

    return wrapper


def import_records_for(user):
    """Import records are the uploader's own; admins who see every home see them all (the
    records of command-line imports included). Anyone else sees none."""
    if not user.is_authenticated or not user.is_active or not user.is_admin:
        return ImportRecord.objects.none()
    if user.sees_every_home:
        return ImportRecord.objects.all()
    return ImportRecord.objects.filter(user=user)


def get_import_record_for_user(user, pk: int) -> ImportRecord:
    record = import_records_for(user).select_related("user").filter(pk=pk).first()
    if record is None:
        raise Http404("No such import record.")
    return record
