"""Import everything the panel runs, in whatever venv runs this script.

tests/test_quick_start.py runs it with a venv built from requirements.txt
alone, so that a runtime import only the development requirements satisfy
(as kombu's Redis transport needing ``packaging`` once did) fails the suite.
Run from the root of a tree, with DJANGO_SETTINGS_MODULE=mailpanel.settings.

Prints a JSON object: the modules imported, the Celery tasks registered and
the names of the settings' beat schedule.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import django


def own_packages() -> list[str]:
    """The project package and every installed app that lives in this tree."""
    from django.apps import apps

    root = Path.cwd().resolve()
    names = {"mailpanel"}
    for config in apps.get_app_configs():
        if Path(config.path).resolve().parent == root:
            names.add(config.name)
    return sorted(names)


def import_all(packages: list[str]) -> list[str]:
    imported = []
    for name in packages:
        package = importlib.import_module(name)
        imported.append(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
            imported.append(module.name)
    return imported


def main() -> None:
    django.setup()
    from django.conf import settings

    from mailpanel.celery import app

    modules = import_all(own_packages())
    app.loader.import_default_modules()
    # The broker's transport module is imported only once a connection is
    # made (as the worker and beat do at start); this makes one, unconnected.
    with app.connection_for_write() as connection:
        transport = type(connection.transport).__module__
    print(
        json.dumps(
            {
                "modules": modules,
                "transport": transport,
                "tasks": sorted(t for t in app.tasks if not t.startswith("celery.")),
                "beat_schedule": sorted(settings.CELERY_BEAT_SCHEDULE),
            }
        )
    )


if __name__ == "__main__":
    main()
