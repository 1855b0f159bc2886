"""tests/skip_guard.py: in CI a skipped test fails the run, by name."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_inner(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(
        "import pytest\n"
        "def test_runs():\n"
        "    pass\n"
        "@pytest.mark.skipif(True, reason='sievec not installed')\n"
        "def test_needs_a_program():\n"
        "    pass\n"
        "@pytest.mark.xfail(strict=True)\n"
        "def test_known_bug():\n"
        "    raise AssertionError\n"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in ("CI", "DJANGO_SETTINGS_MODULE")
    }
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.skip_guard",
            "--basetemp",
            str(tmp_path / "basetemp"),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_it_fails_a_ci_run_that_skipped_a_test_and_names_it(tmp_path):
    result = run_inner(tmp_path, ci="true")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped in CI" in result.stdout
    assert "test_inner.py::test_needs_a_program: Skipped: sievec not installed" in (
        result.stdout
    )
    assert "test_known_bug" not in result.stdout.split("skipped in CI")[1]


def test_it_lets_a_skip_pass_outside_ci(tmp_path):
    result = run_inner(tmp_path, ci=None)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped in CI" not in result.stdout
