"""Querysets compiled to SQL once per process, for the few that every page runs.

Django compiles a queryset to SQL each time it is evaluated. For the to-do query behind
every card and home page (todos.attention() and todos.todo() under two window functions)
building and compiling took about 8 ms of CPU and running it 0.4 ms. `run` compiles a
queryset once per shape, with stand-in ids where the real ids go, keeps its SQL and
parameters, and from then on only swaps the ids in: the rule is still written once, as the
ORM expressions in todos.py, and the SQL is still Django's.
"""

from collections.abc import Callable, Sequence
from functools import lru_cache

from django.db import connection

# Stand-in ids: no row has a negative primary key, and no other parameter of these
# queries is an integer this far from zero.
_STAND_IN = -7_000_000_000


def run(build: Callable, ids: Sequence[int], *key) -> list[tuple]:
    """The rows of build(ids, *key), a values_list queryset, for these ids. `key` holds
    every other value the SQL depends on (dates, settings), so a change compiles anew."""
    sql, params, slots = _compiled(build, len(ids), key, connection.vendor)
    params = list(params)
    for position, n in slots:
        params[position] = ids[n]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@lru_cache(maxsize=256)
def _compiled(build: Callable, count: int, key: tuple, vendor: str):
    # `vendor` is read by nothing here: it is part of the cache key, as the SQL differs.
    queryset = build([_STAND_IN - n for n in range(count)], *key)
    sql, params = queryset.query.get_compiler(connection.alias).as_sql()
    slots = [
        (i, _STAND_IN - p)
        for i, p in enumerate(params)
        if type(p) is int and 0 <= _STAND_IN - p < count
    ]
    if sorted(n for _, n in slots) != list(range(count)):
        # An id inlined into the SQL or passed twice: the SQL could not be reused safely.
        raise ValueError(f"{build.__qualname__}: each id must be one parameter")
    return sql, tuple(params), tuple(slots)
