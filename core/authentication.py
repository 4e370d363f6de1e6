"""API token authentication that loads the user and their roles in one query.

DRF's `TokenAuthentication` reads the token with its user (one ORM query) and the role check then reads the
user's groups (a second one); building and compiling those two ORM queries was most of the CPU of a cheap
API call. This reads token, user and group names in one plain SQL statement and fills the role cache that
`core.roles` consults, so an annotation client's request costs one query before the view runs.
Semantics are DRF's: an unknown key or an inactive user is a 401 with DRF's messages.
"""

# ruff: noqa: S608 - the statement interpolates only quoted names from model metadata; the key is a parameter.

from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core import roles


@cache
def _statement() -> tuple[str, tuple[str, ...]]:
    """SELECT <user columns>, group name FROM token JOIN user LEFT JOIN groups WHERE token key = %s."""
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


class StudioTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the user's roles read in the same query."""

    def authenticate_credentials(self, key):
        sql, names = _statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            rows = cursor.fetchall()
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = get_user_model().from_db(connection.alias, list(names), list(rows[0][: len(names)]))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user._studio_roles = roles.roles_from_groups(user, (row[-1] for row in rows if row[-1] is not None))
        return user, Token(key=key, user=user)
