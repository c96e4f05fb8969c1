"""The Celery worker: runs tries on any host, holding no database credentials (ADR 0014).

A broker message names one try and carries its queue token (``app``); the worker starts the
try over the execution API, fetches and checks the pinned snapshot, runs the task in a
process of its own under the same runtime contract as the local executor, streams its log,
heartbeats, and reports the result (``runner``, over ``client``). Imports ``pinflow.runtime``,
``pinflow.spec`` and ``pinflow.sdk`` only: never the store or the services.
"""
