"""The core app's hand-written SQL, one named statement each (everything else is the ORM).

Each says which benchmark justified leaving the ORM. Values are parameters; only quoted table and column
names from model metadata are interpolated, so the text is the same on PostgreSQL and SQLite.
"""

# ruff: noqa: S608 - the statements interpolate only quoted names from model metadata; values are parameters.

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token


@cache
def token_user_groups() -> tuple[str, tuple[str, ...]]:
    """An API token's user (every concrete column) and the names of the user's groups, one row per group.

    Benchmark: bench/annotation.py (its baseline is an authenticated ping). DRF's token lookup and the role
    check were two compiled ORM queries, most of a cheap call's CPU; this one statement took the ping from
    3.3 to 1.3 ms in process, about 1 ms less per annotation (commit ad4690c).
    Parameter: the token key. Returns (sql, the user fields' attnames in column order); the group name is
    the last column, NULL for a user without groups.
    """
    user_model = get_user_model()
    through = user_model.groups.through
    group_model = user_model.groups.field.related_model
    qn = connection.ops.quote_name

    def col(model, name: str) -> str:
        return qn(model._meta.get_field(name).column)

    user_fields = tuple(user_model._meta.concrete_fields)
    columns = ", ".join(f"u.{qn(f.column)}" for f in user_fields)
    user_pk, group_pk = qn(user_model._meta.pk.column), qn(group_model._meta.pk.column)
    sql = (
        f"SELECT {columns}, g.{col(group_model, 'name')} FROM {qn(Token._meta.db_table)} t"
        f" JOIN {qn(user_model._meta.db_table)} u ON u.{user_pk} = t.{col(Token, 'user')}"
        f" LEFT JOIN {qn(through._meta.db_table)} ug ON ug.{col(through, 'user')} = u.{user_pk}"
        f" LEFT JOIN {qn(group_model._meta.db_table)} g ON g.{group_pk} = ug.{col(through, 'group')}"
        f" WHERE t.{col(Token, 'key')} = %s"
    )
    return sql, tuple(f.attname for f in user_fields)


def tables_analyze(*models) -> None:
    """PostgreSQL: refresh the planner's statistics of these models' tables (``ANALYZE``); SQLite: nothing.

    Called after bulk writes (task assembly, response import), once they are committed: until autovacuum
    gets round to it the planner believes the tables as small as before the import, and picked a nested
    loop that re-read all of an annotator's claims per open task (bench/annotation.py --long-history:
    62.5 ms per claim after 700 claims, 2.1 ms once analysed). Only quoted table names are interpolated.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

