#!/usr/bin/env bash
# Extract translatable strings into govshare/locale/zh_Hans (needs GNU gettext: apt-get install gettext),
# then translate the new entries in django.po and run `make messages`.
set -euo pipefail
cd "$(dirname "$0")/../govshare"
../.venv/bin/python ../manage.py makemessages -l zh_Hans --ignore "static/*" --no-obsolete --no-location
