"""A pytest plugin: in CI (``CI=true``) a skipped test fails the run.

The suite's promise is that CI never passes by skipping: a missing Postfix,
Dovecot, PostgreSQL or Redis is a failure there (``tests.conftest.unavailable``).
A plain ``pytest.skip`` or ``skipif`` slips past that promise; this plugin
catches it, lists the skipped tests with their reasons and fails the run.
Expected failures (``xfail``) are not skips and are left alone.
"""

from __future__ import annotations

import pytest

from tests.conftest import in_ci

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if in_ci() and _skipped:
        terminalreporter.section("skipped in CI (a failure here)", red=True)
        for line in _skipped:
            terminalreporter.line(line)
