"""The exchange actions layer: every write in exchange goes through a ``do_*`` function here (transaction,
permission check first, write and audit event together).  One module per noun: ``sources``, ``bindings``, ``runs``."""

from govshare.exchange.actions.bindings import (
    bindable,
    do_bind_table,
    do_set_binding_active,
    do_set_binding_mode,
    do_set_binding_rules,
    do_set_binding_schedule,
)
from govshare.exchange.actions.checks import (
    do_declare_cross_check,
    do_run_cross_check,
    do_set_cross_check_active,
)
from govshare.exchange.actions.runs import (
    do_confirm_deletes,
    do_rebuild_centre_table,
    do_reconcile,
    do_refuse_deletes,
    do_start_run,
    do_stop_run,
)
from govshare.exchange.actions.sources import (
    SourceTest,
    do_change_source,
    do_register_source,
    do_set_source_active,
    do_test_source,
)

__all__ = ["SourceTest", "bindable", "do_bind_table", "do_change_source", "do_confirm_deletes", "do_declare_cross_check",
           "do_run_cross_check", "do_set_cross_check_active", "do_rebuild_centre_table", "do_refuse_deletes",
           "do_register_source", "do_set_binding_active", "do_set_binding_mode", "do_set_binding_rules", "do_set_binding_schedule", "do_set_source_active", "do_reconcile", "do_start_run",
           "do_stop_run", "do_test_source"]
