"""The admin dashboard's search: by ODS code or name (any part, any case) and by email
prefix, each branch through an index on PostgreSQL (trigram for ODS code and name)."""

import pytest
from django.db import connection
from django.urls import reverse

from accounts.dashboard import HomeFilter
from accounts.models import CareHome
from tests.conftest import make_account


def _found(client, query: str) -> str:
    return client.get(reverse("dashboard"), {"q": query}).content.decode()


@pytest.mark.django_db
def test_search_finds_by_ods_code_name_and_email_prefix(client, admin_user, rosewood, willow):
    make_account(willow, "wes.smith@nhs.net", days_ago=1)
    client.force_login(admin_user)
    by_code = _found(client, "m4q")  # the middle of VM4Q7, lower case
    assert "Rosewood Care Home" in by_code and "Willow Court" not in by_code
    by_name = _found(client, "LOW COU")  # the middle of the name, upper case
    assert "Willow Court" in by_name and "Rosewood Care Home" not in by_name
    by_email = _found(client, "Wes.Sm")  # an email prefix, any case
    assert "Willow Court" in by_email and "Rosewood Care Home" not in by_email
    by_middle = _found(client, "smith@")  # not a prefix of any email, code or name
    assert "Willow Court" not in by_middle and "Rosewood Care Home" not in by_middle


@pytest.mark.django_db
def test_search_stays_within_the_admins_regions(client, admin_user, rosewood, willow):
    admin_user.regions.add(willow.region)
    client.force_login(admin_user)
    body = _found(client, "o")  # in both names
    assert "Willow Court" in body and "Rosewood Care Home" not in body


@pytest.mark.django_db
def test_search_uses_the_trigram_indexes_on_postgresql(rosewood, willow):
    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    query = HomeFilter(query="4q7").apply(CareHome.objects.all()).values("pk")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # two rows: ask whether it can
        sql, params = query.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row for (row,) in cursor.fetchall())
    assert "accounts_carehome_ods_code_trgm" in plan
    assert "accounts_carehome_name_trgm" in plan
    assert "accounts_staffaccount_email" in plan  # the email prefix: a pattern index
