"""Check constraints that need more than Django's portable lookups.

``IsHostedLocalPart`` is the database's copy of
``domains.addresses.is_hosted_local_part``, so that a write that skips
``full_clean()`` (a raw ``save()``, ``update()``, a shell) cannot store a
local part the file system or Dovecot would misread. It is written with each
database's own operators: Django's ``__regex`` on SQLite calls a REGEXP
function that only Django's connections define, and a check calling it
would make every other client's write to the table fail.
"""

from django.db import NotSupportedError
from django.db.models import BooleanField, Func

from domains.addresses import LOCAL_PART_CHARS, MAX_LOCAL_PART

# Characters listed one by one, never as ranges: a range's meaning depends
# on the collation. "-" last, where both syntaxes read it as itself.
_CLASS = LOCAL_PART_CHARS.replace("-", "") + "-"
_POSIX_PATTERN = f"^[{_CLASS}]+([.][{_CLASS}]+)*$"
# SQLite's GLOB is case sensitive and has no repetition: every character in
# the class (with the dot), and the dot's rules said separately.
_GLOB_FORBIDDEN = [f"*[^.{_CLASS}]*", ".*", "*.", "*..*"]


class IsHostedLocalPart(Func):
    """True when the expression is a non-empty local part of the hosted alphabet."""

    arity = 1
    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(
            f"No local-part check is written for {connection.vendor}."
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"(({sql})::text ~ %s AND char_length({sql}) <= %s)",
            [*params, _POSIX_PATTERN, *params, MAX_LOCAL_PART],
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        parts = [f"({sql}) <> ''", f"length({sql}) <= %s"]
        values = [*params, *params, MAX_LOCAL_PART]
        for pattern in _GLOB_FORBIDDEN:
            parts.append(f"({sql}) NOT GLOB %s")
            values += [*params, pattern]
        return "(" + " AND ".join(parts) + ")", values
