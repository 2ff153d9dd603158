"""Web pages of sharing (SHR-1 … SHR-8); one view module per area, URLs in ``sharing/urls.py``."""
