"""Table exchange (EXC-1, EXC-5, EXC-6): the departments' front-end databases (前置库) and the copies from
them into the data resource centre.  The engines (source connections, table copy) are Django-free modules
in :mod:`govshare.exchange.engine`; this app is their Django layer."""
