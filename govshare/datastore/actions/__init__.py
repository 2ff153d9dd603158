"""The datastore actions layer: its writes in the platform database (one module per noun: ``calls``)."""

from govshare.datastore.actions.calls import take_call

__all__ = ["take_call"]
