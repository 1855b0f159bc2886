"""A guard against tests that replace a device node.

The suite runs as root, and a tool asked to write its output to /dev/null may
save through a temporary file and a rename (sievec does): the device becomes a
regular file, mode 0600. Every later process that is not root then fails to
open /dev/null, and whatever was "thrown away" piles up in that file; daemons
and benchmarks on the machine run on a broken system from then on.

This module is a pytest plugin (``-p tests.device_guard`` in pytest.ini): after
every test it checks the devices below (three ``lstat`` calls), and when one
was replaced it puts the device back, so the rest of the run is not void, and
fails that test's teardown, which names the test and fails the run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

# (path, major, minor) as Linux numbers them; mode 0666 for all three.
GUARDED_DEVICES: tuple[tuple[Path, int, int], ...] = (
    (Path("/dev/null"), 1, 3),
    (Path("/dev/zero"), 1, 5),
    (Path("/dev/urandom"), 1, 9),
)
DEVICE_MODE = 0o666


def device_problem(path: Path, major: int, minor: int) -> str | None:
    """Say what is wrong with the device node at ``path``, or None if nothing."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return f"{path} is missing"
    if not stat.S_ISCHR(info.st_mode):
        return f"{path} is no longer a character device ({stat.filemode(info.st_mode)})"
    if (os.major(info.st_rdev), os.minor(info.st_rdev)) != (major, minor):
        return (
            f"{path} is device {os.major(info.st_rdev)},{os.minor(info.st_rdev)}, "
            f"not {major},{minor}"
        )
    if stat.S_IMODE(info.st_mode) != DEVICE_MODE:
        return f"{path} has mode {stat.S_IMODE(info.st_mode):04o}, not 0666"
    return None


def restore_device(path: Path, major: int, minor: int) -> None:
    """Put the character device back, as `mknod -m 666 PATH c MAJOR MINOR`."""
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mknod(path, stat.S_IFCHR | DEVICE_MODE, os.makedev(major, minor))
    # mknod's mode is filtered by the umask; chmod is not.
    os.chmod(path, DEVICE_MODE)


def check_devices() -> list[str]:
    """Check every device; restore the broken ones (as root) and say what was wrong."""
    problems = []
    for path, major, minor in GUARDED_DEVICES:
        problem = device_problem(path, major, minor)
        if problem is None:
            continue
        if os.geteuid() == 0:
            restore_device(path, major, minor)
            problem += "; restored"
        problems.append(problem)
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Iterator:
    result = yield
    problems = check_devices()
    if problems:
        pytest.fail(
            f"{item.nodeid} broke a device node: {'; '.join(problems)}", pytrace=False
        )
    return result


def pytest_sessionstart(session: pytest.Session) -> None:
    # A device broken before the run (by an earlier run or another program) is
    # not any test's fault: put it back and say so, so this run is sound.
    for problem in check_devices():
        print(f"device_guard: before the run, {problem}")
