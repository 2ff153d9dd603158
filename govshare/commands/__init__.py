"""Sub-commands of the ``govshare`` console command (see govshare/cli.py)."""
