"""``python -m pinflow.cli``: the ``pinflow`` command without its console script."""

from pinflow.cli.main import app

app(prog_name="pinflow")
