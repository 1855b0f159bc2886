"""The Celery application: broker and schedules come from Django settings.

Workers are started with ``celery -A mailpanel worker``; one on each mail
host with ``MAILPANEL_MAIL_HOST`` set (docs/workers.md). Beat runs once per
installation with the database scheduler (schedules edited in the admin).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailpanel.settings")

app = Celery("mailpanel")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A mail host's worker consumes its own queue, registers itself and reports
# that it is alive (mailserver.worker). Imported here, not autodiscovered,
# because the signal must be connected before a worker starts.
from mailserver.worker import MailHostStep  # noqa: E402

app.steps["worker"].add(MailHostStep)
