"""Home, login/logout and health.  Area pages live in ``core/web/``."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from govshare.core.auth import AccountLocked
from govshare.core.roles import Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    roles = [Role(r).label for r in sorted(user.role_set())]
    return render(request, "core/home.html", {"roles": roles})


@never_cache
@csrf_protect
@require_http_methods(["GET", "HEAD", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    error = ""
    notice = ""
    if request.session.pop("govshare_idle_logout", False):
        notice = _("You were logged out after a period without activity. Please log in again.")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        username = request.POST.get("username", "")
        password = request.POST.get("password", "")
        try:
            user = authenticate(request, username=username, password=password)
        except AccountLocked:
            # the same answer as for a wrong password: telling "locked" (or until when) would tell
            # that the user name exists.  The lock is recorded in the audit log and shown to the
            # administrators on the user's page, who can unlock it.
            user = None
        if user is None:
            error = _("Wrong user name or password.")
        else:
            login(request, user)
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                next_url = ""
            return redirect(next_url or "core:home")
    return render(request, "core/login.html", {"error": error, "notice": notice, "next": next_url},
                  status=400 if error else 200)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("core:login")


def data_dir_check(data_dir: Path) -> dict[str, Any]:
    """The data dir takes a write.  The probe is a file of this call's own: server processes (and
    threads) probing at once must not remove each other's file and answer a false 503.  A probe left
    by a killed process ends in ``.part``, which backups skip."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".healthz-", suffix=".part") as probe:
            probe.write(b"ok")
            probe.flush()
        return {"ok": True, "free_mb": shutil.disk_usage(data_dir).free // (1024 * 1024)}
    except OSError as exc:
        return {"ok": False, "error": type(exc).__name__}


#: checks later apps add to /healthz (name → a function returning {"ok": bool, …}; it must not raise)
HEALTH_CHECKS: dict[str, Any] = {}


def register_health_check(name: str, check: Any) -> None:
    HEALTH_CHECKS[name] = check


def healthz(request: HttpRequest) -> JsonResponse:
    """Database, worker queue and data dir (issue 2 §9).  503 when something is down."""
    checks: dict[str, Any] = {}
    ok = True
    started = time.monotonic()
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = {"ok": True, "vendor": connection.vendor,
                              "ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 — health must report, not raise
        ok = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        from django_tasks_db.models import DBTaskResult

        from govshare.core.jobs import QUEUE_STUCK_AFTER, live_workers, stale_after, worker_heartbeat_age

        pending = DBTaskResult.objects.filter(status="READY").count()
        # a task row counts as running only while the worker holding it beats; one whose worker died
        # is "orphaned" until a live worker (or `govshare tick`, by hand or cron) fails it and requeues
        # its job (issue 9)
        live = live_workers()
        holders = [ids[-1] if ids else "" for ids in
                   DBTaskResult.objects.filter(status="RUNNING").values_list("worker_ids", flat=True)]
        running = sum(1 for holder in holders if holder in live)
        oldest = (DBTaskResult.objects.filter(status="READY").order_by("enqueued_at")
                  .values_list("enqueued_at", flat=True).first())
        lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        heartbeat = worker_heartbeat_age()
        worker_alive = heartbeat is not None and heartbeat < stale_after().total_seconds()
        stuck = pending > 0 and lag > QUEUE_STUCK_AFTER.total_seconds()
        ok = ok and not stuck
        checks["queue"] = {"ok": not stuck, "ready": pending, "running": running,
                           "orphaned": len(holders) - running, "oldest_wait_s": round(lag, 1),
                           "worker_alive": worker_alive, "workers": len(live),
                           "worker_seen_s_ago": None if heartbeat is None else round(heartbeat, 1)}
    except Exception as exc:  # noqa: BLE001
        ok = False
        checks["queue"] = {"ok": False, "error": type(exc).__name__}
    checks["data_dir"] = data_dir_check(settings.DATA_DIR)
    for name, check in HEALTH_CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 — health must report, not raise
            checks[name] = {"ok": False, "error": type(exc).__name__}
    ok = ok and all(check.get("ok", False) for name, check in checks.items() if name in HEALTH_CHECKS) \
        and checks["data_dir"]["ok"]
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)
