"""What every benchmark prints first: the state of the machine it ran on.

Figures taken on a machine whose /dev/null is not the character device are
void: a test run as root once replaced it with a regular file (sievec writes
through a rename), after which every process that is not root failed to open
it and a service on the machine spun up helpers until the load passed 30. So
each benchmark prints `ls -l /dev/null` and `uptime` as they are, and says
VOID in its report when /dev/null is broken or the machine is not idle.
"""

from __future__ import annotations

import os
import stat
import subprocess

# A load average (1 minute) above this share of the CPUs is not an idle machine.
IDLE_LOAD_PER_CPU = 0.5


def _command(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    return (result.stdout + result.stderr).strip()


def machine_problems() -> list[str]:
    problems = []
    info = os.lstat("/dev/null")
    if not stat.S_ISCHR(info.st_mode) or stat.S_IMODE(info.st_mode) != 0o666:
        problems.append(
            "/dev/null is not the character device with mode 0666 (restore it: "
            "rm -f /dev/null && mknod -m 666 /dev/null c 1 3)"
        )
    load = os.getloadavg()[0]
    cpus = os.cpu_count() or 1
    if load > IDLE_LOAD_PER_CPU * cpus:
        problems.append(f"load average {load:.2f} on {cpus} CPUs: not an idle machine")
    return problems


def machine_report() -> str:
    """`ls -l /dev/null`, `uptime` and a verdict, ready to print."""
    lines = [
        f"$ ls -l /dev/null\n{_command('ls', '-l', '/dev/null')}",
        f"$ uptime\n{_command('uptime')}",
    ]
    problems = machine_problems()
    if problems:
        lines += [f"VOID: {problem}" for problem in problems]
    else:
        lines.append("machine: /dev/null is the device; idle")
    return "\n".join(lines)
