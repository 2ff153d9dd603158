"""Web pages of the catalog (CAT-1 … CAT-10); one view module per area, URLs in ``catalog/urls.py``."""
