"""tests/device_guard.py: a test that replaces a device fails the run, by name.

The guard is exercised on a device node of its own in a temporary directory,
never on /dev/null itself, in a separate pytest process.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.device_guard import DEVICE_MODE, device_problem, restore_device

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def device(tmp_path) -> Path:
    """A sound /dev/null twin (1,3, mode 0666) of this test's own."""
    if os.geteuid() != 0:
        unavailable("making a device node needs root")
    path = tmp_path / "null"
    restore_device(path, 1, 3)
    return path


def test_it_accepts_a_sound_device(device):
    assert device_problem(device, 1, 3) is None


def test_it_names_a_device_replaced_by_a_file(device):
    device.unlink()
    device.write_text("")

    assert "no longer a character device" in device_problem(device, 1, 3)


def test_it_names_a_wrong_mode_and_a_wrong_device(device):
    os.chmod(device, 0o600)
    assert "mode 0600" in device_problem(device, 1, 3)
    assert "not 1,5" in device_problem(device, 1, 5)


def test_it_fails_the_run_naming_the_test_and_restores_the_device(device, tmp_path):
    (tmp_path / "conftest.py").write_text(
        "from pathlib import Path\n"
        "import tests.device_guard as guard\n"
        f"guard.GUARDED_DEVICES = ((Path({str(device)!r}), 1, 3),)\n"
    )
    (tmp_path / "test_inner.py").write_text(
        "import os\n"
        "from pathlib import Path\n"
        "def test_harmless():\n"
        "    pass\n"
        "def test_renames_onto_the_device(tmp_path):\n"
        "    out = tmp_path / 'out'\n"
        "    out.write_text('compiled')\n"
        f"    os.rename(out, {str(device)!r})\n"
        "def test_after():\n"
        "    pass\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:django",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.device_guard",
            "-q",
            # Its own temporary directories: not the shared basetemp, whose
            # older runs pytest prunes.
            "--basetemp",
            str(tmp_path / "basetemp"),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "test_inner.py::test_renames_onto_the_device broke a device node"
        in result.stdout
    )
    assert "3 passed, 1 error" in result.stdout, result.stdout
    info = device.lstat()
    assert stat.S_ISCHR(info.st_mode) and stat.S_IMODE(info.st_mode) == DEVICE_MODE
