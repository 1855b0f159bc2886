"""What was backed up, when, and whether it can be restored.

The backups themselves live in the restic repository; these rows are the
record the admin shows and the schedule reads. A lost table loses history,
never a backup: ``restic snapshots`` still lists every one.
"""

from datetime import datetime, time, timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone


class BackupPolicy(models.Model):
    """The schedule and retention, edited in the admin; there is one row.

    Celery beat calls the tasks often (hourly); the tasks ask this row whether
    the work is due, so the schedule changes without touching beat.
    """

    enabled = models.BooleanField(
        default=True, help_text="Scheduled backups, checks and drills run."
    )
    daily_at = models.TimeField(
        "back up daily at",
        default=time(3, 0),
        help_text="Server time; the backup starts at the first beat after it.",
    )
    keep_daily = models.PositiveSmallIntegerField(default=7)
    keep_weekly = models.PositiveSmallIntegerField(default=4)
    keep_monthly = models.PositiveSmallIntegerField(default=12)
    check_every_days = models.PositiveSmallIntegerField(
        default=7, help_text="Run the repository's integrity check this often."
    )
    check_read_percent = models.PositiveSmallIntegerField(
        default=5,
        help_text="Share of the stored data the check reads back and verifies.",
    )
    drill_every_days = models.PositiveSmallIntegerField(
        default=7, help_text="Restore the newest backup into a scratch place."
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "backup policy"
        verbose_name_plural = "backup policy"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="backuppolicy_singleton")
        ]

    def __str__(self) -> str:
        return (
            f"daily at {self.daily_at:%H:%M}, keep {self.keep_daily} daily, "
            f"{self.keep_weekly} weekly, {self.keep_monthly} monthly"
        )

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "BackupPolicy":
        """The policy row, created with the defaults on first use."""
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy

    def backup_due(self, *, now: datetime, last_started: datetime | None) -> bool:
        """Whether today's scheduled backup is still to be taken."""
        if not self.enabled:
            return False
        local = timezone.localtime(now)
        slot = local.replace(
            hour=self.daily_at.hour,
            minute=self.daily_at.minute,
            second=0,
            microsecond=0,
        )
        if local < slot:
            return False
        return last_started is None or last_started < slot

    def every_due(
        self, *, days: int, now: datetime, last_started: datetime | None
    ) -> bool:
        """Whether work done every ``days`` days (0: never) is due."""
        if not self.enabled or not days:
            return False
        return last_started is None or now - last_started >= timedelta(days=days)


class State(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    # The snapshot exists but restic could not read some files.
    PARTIAL = "partial", "partial"
    FAILED = "failed", "failed"


class BackupRun(models.Model):
    """One backup, prune or integrity check, as restic reported it."""

    class Kind(models.TextChoices):
        BACKUP = "backup", "backup"
        PRUNE = "prune", "prune"
        CHECK = "check", "check"

    kind = models.CharField(max_length=10, choices=Kind, default=Kind.BACKUP)
    state = models.CharField(max_length=10, choices=State, default=State.QUEUED)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Who runs it: a RUNNING row whose process is gone was interrupted.
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    tool_pid = models.PositiveIntegerField(null=True, blank=True)
    # Progress as restic reports it while the run is going.
    progress_percent = models.FloatField(default=0.0)
    files_done = models.PositiveBigIntegerField(default=0)
    total_files = models.PositiveBigIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    # The result.
    snapshot_id = models.CharField(max_length=64, blank=True)
    bytes_added = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="New data the repository stores, before compression.",
    )
    repository_size = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="The repository's size afterwards, compressed.",
    )
    # Backups: the manifest's totals; prunes: the snapshots removed.
    details = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    alerted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["kind", "state", "-created"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.state})"

    @property
    def duration(self) -> timedelta | None:
        if not self.started:
            return None
        return (self.finished or timezone.now()) - self.started

    @property
    def is_restorable(self) -> bool:
        return self.kind == self.Kind.BACKUP and bool(self.snapshot_id)


class RestoreDrill(models.Model):
    """A periodic proof that the newest backup restores and is complete."""

    run = models.ForeignKey(
        BackupRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="drills",
    )
    snapshot_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State, default=State.RUNNING)
    started = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    # Who runs it: a RUNNING drill whose process is gone was interrupted.
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    database_ok = models.BooleanField(null=True)
    mailboxes_checked = models.PositiveIntegerField(default=0)
    messages_checked = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    alerted = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"restore drill #{self.pk} ({self.state})"

    @property
    def duration(self) -> timedelta | None:
        return self.finished - self.started if self.finished else None
