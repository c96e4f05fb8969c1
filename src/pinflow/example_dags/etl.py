"""ETL through XComs: extract -> transform -> load, data flowing as task return values."""

from __future__ import annotations

from typing import Any

from pinflow import Param, dag, task


@task
def extract() -> list[dict[str, Any]]:
    return [{"city": "Oslo", "temp_c": 3.5}, {"city": "Lima", "temp_c": 19.0}]


@task
def transform(
    rows: list[dict[str, Any]], params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    if (params or {}).get("unit", "F") == "F":
        return [{**row, "temp": row["temp_c"] * 9 / 5 + 32} for row in rows]
    return [{**row, "temp": row["temp_c"]} for row in rows]


@task
def load(rows: list[dict[str, Any]], staging_dir: str | None = None) -> int:
    """Writes the rows to the run's staging dir and returns how many it wrote."""
    import json
    import pathlib

    target = pathlib.Path(staging_dir or ".") / "weather.json"
    target.write_text(json.dumps(rows))
    return len(rows)


@dag(
    dag_id="example_etl",
    name="Example: ETL through XComs",
    tags=["example"],
    params={"unit": Param("F", type="string", enum=["C", "F"])},
)
def example_etl() -> None:
    load(transform(extract()))


example_etl()
