"""Ids in URLs: `<id:task_id>` matches only a primary key a database can hold (1 to 2**63 - 1).

Django's `<int:…>` matches any number of digits. An id beyond 64 bits then reaches the database, and
lookups the ORM does not range-check (a foreign key's `task_id=`, raw SQL) fail there: a 500 for what is
just an object that does not exist. With this converter such a URL matches nothing (404). Serializer
fields that take ids bound them with `MAX_ID` too (`core.api.IdField`).
"""

from django.urls import register_converter

MAX_ID = 2**63 - 1  # the largest bigint: every primary key, on SQLite and PostgreSQL


class DatabaseIdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError("not a database id")  # the URL does not match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(DatabaseIdConverter, "id")
