"""The scheduler end-to-end fixtures (``settings``, ``scheduler``), shared with the other
end-to-end tests' folder."""

from tests.support.scheduling import scheduler, settings

__all__ = ["scheduler", "settings"]
