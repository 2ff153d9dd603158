"""The exchange engines (EXC-1, EXC-6): Django-free modules that talk to departments' front-end databases."""
