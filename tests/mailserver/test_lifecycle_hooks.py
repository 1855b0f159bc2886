"""What the admin's deletes and renames leave for the mail hosts' workers.

No worker runs here: the tests check the rows a web request writes
(``MaildirJob``, ``OutboxMessage``, the lookup rows Postfix reads) and, for a
domain rename, run the jobs in-process on a vmail tree of their own.
"""

import threading

import pytest

from domains.models import Alias, Domain, DomainAlias, Mailbox
from mailserver import lifecycle
from mailserver.models import MaildirJob, MailHost, OutboxMessage
from tests.domains.utils import PASSWORD, lookup, saved

pytestmark = pytest.mark.django_db

HOSTS = ("mx1", "mx2")


@pytest.fixture
def hosts() -> list[MailHost]:
    return [MailHost.objects.create(name=name) for name in HOSTS]


def mailbox(domain: Domain, local_part: str) -> Mailbox:
    box = Mailbox(domain=domain, local_part=local_part)
    box.set_password(PASSWORD)
    return saved(box)


def jobs(kind: MaildirJob.Kind) -> set[tuple]:
    return set(
        MaildirJob.objects.filter(kind=kind).values_list(
            "host__name", "source", "target", "old_address", "new_address"
        )
    )


def job_messages() -> set[tuple]:
    return {
        (m.queue, m.args[0])
        for m in OutboxMessage.objects.filter(task=lifecycle.JOB_TASK)
    }


def deferred(address: str) -> bool:
    actions = lookup("mailpanel_recipient_access", "action", "address", address)
    return actions == [lifecycle.DEFER_ACTION]


# --- bulk delete in the admin ---------------------------------------------------


def test_the_admins_bulk_delete_archives_every_selected_mailbox(admin_client, hosts):
    domain = saved(Domain(name="example.org"))
    boxes = [mailbox(domain, name) for name in ("alice", "bob", "carol")]
    selected = {
        "action": "delete_selected",
        "_selected_action": [boxes[0].pk, boxes[1].pk],
    }

    confirm = admin_client.post("/admin/domains/mailbox/", selected)
    assert confirm.status_code == 200
    assert MaildirJob.objects.count() == 0  # nothing before the confirmation
    response = admin_client.post("/admin/domains/mailbox/", {**selected, "post": "yes"})

    assert response.status_code == 302
    assert list(Mailbox.objects.values_list("local_part", flat=True)) == ["carol"]
    assert jobs(MaildirJob.Kind.ARCHIVE) == {
        (host, f"example.org/{name}", "", f"{name}@example.org", "")
        for host in HOSTS
        for name in ("alice", "bob")
    }
    assert job_messages() == {
        (job.host.name, job.pk) for job in MaildirJob.objects.select_related("host")
    }
    for name, exists in (("alice", False), ("bob", False), ("carol", True)):
        rows = lookup(
            "mailpanel_virtual_mailboxes", "maildir", "address", f"{name}@example.org"
        )
        assert bool(rows) is exists


def test_the_admins_bulk_delete_removes_maildirs_where_configured(
    admin_client, hosts, settings
):
    settings.MAILPANEL_MAILDIR_ON_DELETE = "remove"
    domain = saved(Domain(name="example.org"))
    box = mailbox(domain, "alice")

    admin_client.post(
        "/admin/domains/mailbox/",
        {"action": "delete_selected", "_selected_action": [box.pk], "post": "yes"},
    )

    assert not Mailbox.objects.exists()
    assert {row[:2] for row in jobs(MaildirJob.Kind.REMOVE)} == {
        (host, "example.org/alice") for host in HOSTS
    }


# --- renaming a domain ------------------------------------------------------------


def rename_in_the_admin(client, domain: Domain, new_name: str):
    return client.post(
        f"/admin/domains/domain/{domain.pk}/change/",
        {
            "name": new_name,
            "active": "on",
            "description": "",
            "max_mailboxes": "0",
            "max_aliases": "0",
            "quota": "0",
            "default_mailbox_quota": "0",
            "alias_domains-TOTAL_FORMS": "0",
            "alias_domains-INITIAL_FORMS": "0",
        },
    )


def test_renaming_a_domain_in_the_admin_moves_every_mailbox_on_every_host(
    admin_client, hosts
):
    domain = saved(Domain(name="old.example"))
    for name in ("alice", "bob"):
        mailbox(domain, name)
    saved(Alias(domain=domain, local_part="info", destinations="alice@old.example"))

    response = rename_in_the_admin(admin_client, domain, "new.example")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert jobs(MaildirJob.Kind.MOVE) == {
        (
            host,
            f"old.example/{name}",
            f"new.example/{name}",
            f"{name}@old.example",
            f"{name}@new.example",
        )
        for host in HOSTS
        for name in ("alice", "bob")
    }
    assert job_messages() == {
        (job.host.name, job.pk) for job in MaildirJob.objects.select_related("host")
    }
    # Both addresses wait (4xx) until every host has moved the maildir.
    for name in ("alice", "bob"):
        assert deferred(f"{name}@old.example")
        assert deferred(f"{name}@new.example")
    # The old name stays an alias domain: old addresses keep arriving.
    assert DomainAlias.objects.get(name="old.example").target_id == domain.pk
    assert lookup(
        "mailpanel_virtual_aliases", "destination", "address", "info@old.example"
    ) == ["info@new.example"]


def test_a_renamed_domains_maildirs_move_once_the_jobs_ran(hosts, settings, tmp_path):
    settings.MAILPANEL_VMAIL_ROOT = str(tmp_path / "vmail")
    settings.MAILPANEL_MAILDIR_SETTLE_SECONDS = 0
    settings.MAILPANEL_POSTFIX_DIR = str(tmp_path / "no-postfix")
    domain = saved(Domain(name="old.example"))
    mailbox(domain, "alice")
    message = tmp_path / "vmail" / "old.example" / "alice" / "Maildir" / "cur" / "1:2,"
    message.parent.mkdir(parents=True)
    message.write_text("Subject: kept\n\nhello\n")

    domain.name = "new.example"
    saved(domain)
    for job in MaildirJob.objects.order_by("pk"):
        assert lifecycle.maildir_job_run(job=job).state == MaildirJob.State.DONE

    moved = tmp_path / "vmail" / "new.example" / "alice" / "Maildir" / "cur" / "1:2,"
    assert moved.read_text() == "Subject: kept\n\nhello\n"
    assert not (tmp_path / "vmail" / "old.example").exists()
    assert not deferred("alice@new.example")
    assert not deferred("alice@old.example")
    assert lookup(
        "mailpanel_virtual_aliases", "destination", "address", "alice@old.example"
    ) == ["alice@new.example"]


def test_renaming_an_empty_domain_moves_nothing_and_keeps_no_alias_domain(hosts):
    domain = saved(Domain(name="typo.exmaple"))

    domain.name = "typo.example"
    saved(domain)

    assert not MaildirJob.objects.exists()
    assert not DomainAlias.objects.exists()


def test_saving_a_domain_without_renaming_it_moves_nothing(hosts):
    domain = saved(Domain(name="example.org"))
    mailbox(domain, "alice")

    domain.description = "edited"
    saved(domain)

    assert not MaildirJob.objects.exists()
    assert not DomainAlias.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sync_being_published_does_not_count_as_waiting(monkeypatch):
    # Its worker may already have read the old addresses: a new alias (or a
    # save of the reply) needs a sync of its own.
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Vacation
    from mailpanel.celery import app
    from mailserver.outbox import outbox_send

    box = mailbox(saved(Domain(name="example.org")), "anna")
    today = timezone.localdate()
    Vacation.objects.create(mailbox=box, enabled=True, start=today, end=today)
    args = [box.pk, None]  # no mail host registered: the local worker
    first = OutboxMessage.objects.create(task=lifecycle.VACATION_TASK, args=args)
    publishing, published = threading.Event(), threading.Event()

    def send_task(*task_args, **options):
        if threading.current_thread() is sender:  # hold the first publish
            publishing.set()
            assert published.wait(10)

    monkeypatch.setattr(app, "send_task", send_task)

    def send() -> None:
        try:
            outbox_send(message_id=first.pk)
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert publishing.wait(10)
        with transaction.atomic():
            lifecycle.lookups_rebuilt()
    finally:
        published.set()
        sender.join(10)

    syncs = OutboxMessage.objects.filter(task=lifecycle.VACATION_TASK)
    assert syncs.count() == 2
    assert all(m.args == args and m.sent_at for m in syncs)


# --- local parts from before the alphabet (docs/addresses.md) -------------------

HOSTILE = ["alice/", "/", "/var/vmail/example.org/alice", "o'brien"]


@pytest.mark.parametrize("local_part", HOSTILE)
def test_deleting_such_a_mailbox_leaves_every_maildir_alone(hosts, local_part):
    # Dovecot never accepted its logins, so it owns no maildir; the path its
    # name makes is someone else's ("alice/" is alice's).
    domain = saved(Domain(name="example.org"))
    mailbox(domain, "alice")
    ghost = Mailbox(domain=domain, local_part=local_part)

    lifecycle.mailbox_deleted(mailbox=ghost)

    assert MaildirJob.objects.count() == 0
    assert not OutboxMessage.objects.filter(task=lifecycle.JOB_TASK).exists()


@pytest.mark.parametrize("local_part", HOSTILE)
def test_renaming_such_a_mailbox_moves_no_maildir(hosts, local_part):
    domain = saved(Domain(name="example.org"))
    renamed = mailbox(domain, "ghost")

    lifecycle.mailbox_moved(
        mailbox=renamed, old_local_part=local_part, old_domain=domain
    )

    assert MaildirJob.objects.count() == 0
    assert not Alias.objects.exists()
