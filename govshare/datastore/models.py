"""The datastore app's own rows in the platform database (the centre's data is in its own database)."""

from __future__ import annotations

from django.db import models


class CallWindow(models.Model):
    """How many calls a caller made of a rate-limited channel (online verification) in its current minute —
    counted by one conditional UPDATE (:mod:`govshare.datastore.actions.calls`), shared by every server
    process."""

    caller = models.CharField(max_length=80)  # "system:<id>" or "user:<id>"
    channel = models.CharField(max_length=20)
    started_at = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "channel"], name="datastore_call_window_unique")]

    def __str__(self) -> str:
        return f"{self.caller} {self.channel} {self.calls}"
