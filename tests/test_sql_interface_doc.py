"""docs/sql-interface.md is the contract Postfix and Dovecot are configured
against: its views and queries are checked against the database and against
domains.sql_interface, so that the document and the code cannot drift."""

import re
from pathlib import Path

import pytest
from django.db import connection

from domains.sql_interface import (
    DOVECOT_ITERATE_QUERY,
    DOVECOT_PASSWORD_QUERY,
    DOVECOT_USER_QUERY,
    POSTFIX_QUERIES,
    POSTFIX_RELAY_QUERIES,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "sql-interface.md").read_text()


def section(title: str) -> str:
    """The text of the ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/sql-interface.md has no section {title!r}"
    return match[1]


def documented_views() -> dict[str, list[str]]:
    """The Views table: view name to its columns, in order."""
    views = {}
    for line in section("Views").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`mailpanel_\w+`", cells[0]):
            views[cells[0].strip("`")] = re.findall(r"`(\w+)`", cells[1])
    return views


def documented_queries() -> set[str]:
    """Every SELECT in the Queries section's code blocks, whitespace folded."""
    queries = set()
    for block in re.findall(r"```\n(.*?)```", section("Queries"), re.S):
        # A query continues on lines that are indented or after a backslash.
        text = re.sub(r"\\\n\s*", " ", block)
        text = re.sub(r"\n\s+(?=[A-Z])", " ", text)
        for line in text.splitlines():
            match = re.search(r"(SELECT .*)$", line)
            if match:
                queries.add(" ".join(match[1].split()))
    return queries


def code_queries() -> set[str]:
    return {
        " ".join(query.split())
        for query in (
            *POSTFIX_QUERIES.values(),
            *POSTFIX_RELAY_QUERIES.values(),
            DOVECOT_PASSWORD_QUERY,
            DOVECOT_USER_QUERY,
            DOVECOT_ITERATE_QUERY,
        )
    }


def test_the_document_lists_views_and_queries_to_compare():
    assert len(documented_views()) >= 10
    assert len(documented_queries()) >= 10


def test_every_query_in_the_code_is_the_one_documented():
    assert documented_queries() == code_queries()


@pytest.mark.django_db
def test_every_view_documented_exists_with_exactly_its_columns():
    with connection.cursor() as cursor:
        existing = {
            info.name
            for info in connection.introspection.get_table_list(cursor)
            if info.type == "v" and info.name.startswith("mailpanel_")
        }
        views = documented_views()
        assert existing == set(views)
        for name, columns in views.items():
            described = connection.introspection.get_table_description(cursor, name)
            assert [column.name for column in described] == columns, name
