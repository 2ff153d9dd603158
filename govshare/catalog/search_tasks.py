"""Keeping the search index current (CAT-9): after each committed change the entry ids go to a
background task that re-indexes them; ``govshare catalog reindex`` rebuilds everything as a Job."""

from __future__ import annotations

from typing import Any

from django_tasks import task

from govshare.core import jobs


@task()
def index_entries(entry_ids: list[int]) -> int:
    from govshare.catalog import search

    return search.update_entries(entry_ids)


def enqueue_index(entry_ids: list[int]) -> None:
    index_entries.enqueue(list(entry_ids))


@jobs.handler("catalog.reindex")
def reindex_job(ctx: jobs.JobContext) -> dict[str, Any]:
    from govshare.catalog import search

    count = search.rebuild(progress=lambda done, total: ctx.progress(done, total))
    ctx.log(f"indexed {count} entries")
    return {"documents": count}
