"""Database backends of govshare (Django ``ENGINE`` paths)."""
