"""Compatibility layers: DAG files written for another orchestrator, compiled to Pinflow specs.

``pinflow.compat.airflow`` takes Airflow 3 DAG files (``airflow.sdk`` and the standard
provider); ``pinflow.compat.importer`` makes their ``import airflow`` lines resolve to it.
Like the SDK, nothing here imports the control plane (an import-linter contract checks it).
"""
