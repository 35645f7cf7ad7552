"""The command line's parts (`python -m core …`, whose entry point is `core/__main__.py`): `parser` (every command and
flag, checked as read), `common` (what the commands share), `experiments` (embed, train, sweep, evaluate, adapter),
`store` (runs, delete, export, import), `setup` (install-models, warm); `python -m core watermark` lives with its
lab (`core.watermark.cli`)."""
