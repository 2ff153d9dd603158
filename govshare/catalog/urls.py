"""Web pages of the catalog (namespace ``catalog``, under ``/catalog/``).

The entry page is ``/catalog/entries/<pk>/`` and the update-task page ``/catalog/update-tasks/<pk>/``:
notifications link to them (see ``entry_url`` and ``task_url`` in the actions).
"""

from django.urls import path

from govshare.catalog.web import (
    admin_views,
    entry_views,
    mine_views,
    overview_views,
    project_views,
    review_views,
    search_views,
    task_views,
)

app_name = "catalog"

urlpatterns = [
    path("", search_views.search_page, name="search"),
    # entries
    path("entries/new/", entry_views.entry_create, name="entry_create"),
    path("entries/<int:pk>/", entry_views.entry_detail, name="entry_detail"),
    path("entries/<int:pk>/edit/", entry_views.entry_edit, name="entry_edit"),
    path("entries/<int:pk>/submit/", entry_views.entry_submit, name="entry_submit"),
    path("entries/<int:pk>/discard/", entry_views.entry_discard, name="entry_discard"),
    path("entries/<int:pk>/withdraw/", entry_views.entry_withdraw, name="entry_withdraw"),
    path("entries/<int:pk>/review/", entry_views.entry_review, name="entry_review"),
    path("entries/<int:pk>/subscription/", entry_views.entry_subscribe, name="entry_subscribe"),
    path("entries/<int:pk>/project/", entry_views.entry_attach_project, name="entry_attach_project"),
    path("entries/<int:pk>/feedback/", entry_views.feedback_raise, name="feedback_raise"),
    path("entries/<int:pk>/versions/<int:number>/diff/", entry_views.version_diff, name="version_diff"),
    path("feedback/<int:pk>/answer/", entry_views.feedback_answer, name="feedback_answer"),
    path("feedback/<int:pk>/close/", entry_views.feedback_close, name="feedback_close"),
    # my department, import / export
    path("mine/", mine_views.mine, name="mine"),
    path("template/", mine_views.template_download, name="template_download"),
    path("import/", mine_views.catalog_import, name="import"),
    path("export/", mine_views.catalog_export, name="export"),
    # review, update tasks
    path("review/", review_views.review_queue, name="review_queue"),
    path("update-tasks/", task_views.task_list, name="update_tasks"),
    path("update-tasks/new/", task_views.task_create, name="update_task_create"),
    path("update-tasks/<int:pk>/", task_views.task_detail, name="update_task_detail"),
    path("update-tasks/<int:pk>/complete/", task_views.task_complete, name="update_task_complete"),
    path("update-tasks/<int:pk>/cancel/", task_views.task_cancel, name="update_task_cancel"),
    # jurisdiction catalog
    path("overview/", overview_views.overview, name="overview"),
    path("snapshots/publish/", overview_views.snapshot_publish, name="snapshot_publish"),
    path("snapshots/<int:pk>/download/", overview_views.snapshot_download, name="snapshot_download"),
    # projects
    path("projects/", project_views.project_list, name="projects"),
    path("projects/new/", project_views.project_create, name="project_create"),
    path("projects/<int:pk>/", project_views.project_detail, name="project_detail"),
    path("projects/<int:pk>/move/", project_views.project_move, name="project_move"),
    path("projects/<int:pk>/attach/", project_views.project_attach, name="project_attach"),
    path("projects/<int:pk>/entries/<int:entry_pk>/detach/", project_views.project_detach, name="project_detach"),
    # classification tree, synonyms
    path("classifications/", admin_views.classification_list, name="classifications"),
    path("classifications/new/", admin_views.classification_create, name="classification_create"),
    path("classifications/<int:pk>/edit/", admin_views.classification_edit, name="classification_edit"),
    path("synonyms/", admin_views.synonym_list, name="synonyms"),
    path("synonyms/new/", admin_views.synonym_create, name="synonym_create"),
    path("synonyms/<int:pk>/edit/", admin_views.synonym_edit, name="synonym_edit"),
    path("synonyms/<int:pk>/delete/", admin_views.synonym_delete, name="synonym_delete"),
    path("search-words/", admin_views.search_word_list, name="search_words"),
    path("search-words/<int:pk>/delete/", admin_views.search_word_delete, name="search_word_delete"),
]
