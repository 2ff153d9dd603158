"""The data resource centre's engine (EXC-1, EXC-7): Django-free modules that keep the centre's copy of each
shared table (:mod:`govshare.datastore.engine.store`)."""
