"""The web UI: server-rendered pages (Jinja2) and one small script, served by the API server.

Key rules (ADR 0005):

- Pages only read (GET, no side effects); every change goes through the JSON API, sent by
  ``static/pinflow.js`` with a short-lived Bearer token. The session cookie opens pages and
  nothing else, which is the CSRF defence: do not make an API route accept the cookie.
- Which buttons a version shows is seed 001's tables, kept as data in ``actions.py``.
- Every list is paged and every page's queries are bounded
  (``pinflow.services.reads``), so pages stay quick with 100,000s of runs
  (``bench/ui_pages.py``).
- No inline script or style (the CSP forbids them) and nothing from another origin.
"""
