"""``python -m pinflow.scheduler``: one scheduler process (see ``pinflow.scheduler.main``)."""

from pinflow.scheduler.main import main

raise SystemExit(main())
