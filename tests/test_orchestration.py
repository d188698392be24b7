"""The code location: one load job over year partitions, declared cross-year dependencies, the schedule and the file
sensor asking for the right runs, and the one private dagster-dbt override pinned."""

from __future__ import annotations

import hashlib
import inspect
import json
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from junheng.defs.orchestration import (FINGERPRINTS_TAG, census_files_sensor, load_request, statistical_year,
                                        yearly_census_schedule)
from junheng.defs.partitions import YEAR_OVER_YEAR, affected_years, year_keys

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_code_location_has_one_load_job_ending_in_publication():
    from junheng.definitions import defs

    repo = defs.get_repository_def()
    assert "load_job" in repo.job_names
    assert repo.has_schedule_def("yearly_census_schedule") and repo.has_sensor_def("census_files_sensor")
    graph = repo.asset_graph
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw/census_schools", "raw/county_returns", "marts/submission_flags", "marts/county_indicator_cv",
            "marts/quality_scorecard", "marts/indicator_trend", "published_warehouse"} <= keys
    assert graph.get(dg.AssetKey(["marts", "county_indicator_cv"])).partitions_def is not None
    assert graph.get(dg.AssetKey(["marts", "indicator_trend"])).partitions_def is None
    # publishing is downstream of every other asset: a load ends with it
    published = dg.AssetKey(["published_warehouse"])
    assert graph.get(published).parent_keys == graph.get_all_asset_keys() - {published} - {
        k for k in graph.get_all_asset_keys() if graph.get(k).is_external}
    checks = {c.name for c in graph.asset_check_keys}
    assert {"census_structure", "census_files_accepted", "census_schema_drift", "school_plausibility"} <= checks


def test_plans_are_their_own_job_after_the_load():
    """The figures are published by load_job without waiting for the planner; plan_job makes, verifies and publishes
    the plans (the planner's assets and the plan marts), ending in the same publication."""
    from junheng.definitions import defs

    repo = defs.get_repository_def()
    planner = {"planner/plan_counties", "planner/plan_additions", "marts/investment_plan",
               "marts/investment_plan_summary"}

    def keys(job: str) -> set[str]:
        return {k.to_user_string() for k in repo.get_job(job).asset_layer.executable_asset_keys}

    assert not planner & keys("load_job") and {"marts/county_balance", "published_warehouse"} <= keys("load_job")
    assert keys("plan_job") == planner | {"published_warehouse"}
    assert repo.has_sensor_def("plans_sensor")


def test_flags_declare_the_two_years_before_as_upstream():
    from junheng.definitions import defs

    graph = defs.get_repository_def().asset_graph
    flags = graph.get(dg.AssetKey(["marts", "submission_flags"]))
    mapping = flags.partition_mappings[dg.AssetKey(["raw", "census_schools"])]
    assert mapping == YEAR_OVER_YEAR and isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert affected_years([2020]) == [2020, 2021, 2022]


def test_partitions_start_at_the_first_submitted_year():
    keys = year_keys()
    assert keys[0] == 2015  # the bundled sample's first census folder, not 2010
    assert keys[-1] == datetime.now().year


def test_load_request_covers_the_years_that_read_the_loaded_ones(tmp_path):
    import duckdb

    from junheng.lib.warehouse import ensure_raw_schema

    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:  # a warehouse holding 2020–2023
        ensure_raw_schema(conn)
        conn.execute("insert into raw.census_schools (year, source_file, source_sha256, source_row, loaded_at, "
                     "load_run_id) select y, 'f', 's', 1, now(), 'r' from range(2020, 2024) t(y)")
    request = load_request([2020], tmp_path / "wh.duckdb")
    assert (request.first, request.last, request.years, request.rebuilt) == (2020, 2022, (2020,), [2021, 2022])
    assert request.tags[RANGE_START] == "2020" and request.tags[RANGE_END] == "2022"
    assert request.run_config == {"ops": {"raw_year_files": {"config": {"years": [2020]}}}}
    assert load_request([2023], tmp_path / "wh.duckdb").last == 2023  # nothing after it holds data
    assert load_request([2019], tmp_path / "wh.duckdb").last == 2021
    assert load_request([2023], tmp_path / "wh.duckdb", stale=[2021]).first == 2021  # stale years are rebuilt
    with pytest.raises(ValueError, match="outside"):
        load_request([1899], tmp_path / "wh.duckdb")


@pytest.mark.parametrize(
    ("moment", "year"),
    [(datetime(2025, 12, 1, 6), 2025), (datetime(2026, 3, 1), 2025), (datetime(2026, 9, 1), 2026)],
)
def test_statistical_year(moment, year):
    assert statistical_year(moment) == year


def test_schedule_requests_the_year_whose_census_just_closed():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 12, 1, 6))
    request = yearly_census_schedule(context)
    assert request.run_key == "scheduled-2025"
    assert request.tags[RANGE_START] == "2025" and request.run_config["ops"]["raw_year_files"]["config"]["years"] == [2025]
    assert yearly_census_schedule.cron_schedule == "0 6 1 12 *"  # 1 December by default


def _tick(instance, cursor: str | None):
    data = census_files_sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor, instance=instance))
    requested = [sorted(int(y) for y in json.loads(r.tags[FINGERPRINTS_TAG])) for r in data.run_requests]
    return requested, data.cursor, data.run_requests


def _finish(instance, request: dg.RunRequest, status: dg.DagsterRunStatus) -> None:
    """Record a run the sensor asked for, as the daemon would, ended with `status`."""
    run = instance.create_run_for_job(
        dg.GraphDefinition("load_job", node_defs=[]).to_job(), run_id=None,
        tags={**request.tags, "dagster/sensor_name": "census_files_sensor"})
    instance.report_run_failed(run) if status == dg.DagsterRunStatus.FAILURE else None
    if status == dg.DagsterRunStatus.SUCCESS:
        instance.handle_run_event(run.run_id, dg.DagsterEvent(
            event_type_value="PIPELINE_SUCCESS", job_name="load_job", message="done"))


def test_sensor_asks_for_changed_years_in_one_run_and_retries_a_failed_one(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("JUNHENG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUNHENG_WAREHOUSE", str(tmp_path / "wh.duckdb"))  # none published yet
    for rel in ("census/2023/a.csv", "census/2024/a.csv", "census/2024/readme.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("school_code\n", encoding="utf-8")
    with dg.instance_for_test() as instance:
        requested, cursor, reqs = _tick(instance, None)
        assert requested == [[2023, 2024]]  # one run for every changed year
        _finish(instance, reqs[0], dg.DagsterRunStatus.FAILURE)
        requested, cursor, reqs = _tick(instance, cursor)
        assert requested == [[2023, 2024]]  # a failed load answered nothing: asked again
        _finish(instance, reqs[0], dg.DagsterRunStatus.SUCCESS)
        requested, cursor, _ = _tick(instance, cursor)
        assert requested == []  # answered: nothing new
        returns = tmp_path / "county_returns/2023/r.xlsx"
        returns.parent.mkdir(parents=True)
        returns.write_bytes(b"x")  # a county return arrives for 2023
        requested, cursor, reqs = _tick(instance, cursor)
        assert requested == [[2023]] and reqs[0].tags[RANGE_END] == "2023"
        _finish(instance, reqs[0], dg.DagsterRunStatus.SUCCESS)
        (tmp_path / "census/2024/readme.txt").write_text("ignored", encoding="utf-8")  # not a census file
        assert _tick(instance, cursor)[0] == []


def test_the_one_private_dagster_dbt_override_is_pinned():
    """JunhengDbtCliResource overrides two private methods of DbtCliResource (6.5 s saved per invocation). If an
    upgrade of dagster-dbt changes them, or `cli` (which calls them), this fails: re-measure and re-check the
    override."""
    from dagster_dbt import DbtCliResource

    pinned = {
        "_cli_version": "b06b86a642ba8bcd",
        "_initialize_dbt_core_adapter": "f033303d9d777bff",
        "cli": "a9ca99daf92597e3",
    }
    seen = {}
    for name in pinned:
        member = inspect.getattr_static(DbtCliResource, name)
        func = getattr(member, "func", member)  # cached_property wraps the function
        seen[name] = hashlib.sha256(inspect.getsource(func).encode()).hexdigest()[:16]
    assert seen == pinned, seen


def test_the_event_log_override_is_pinned_and_the_instance_uses_it(tmp_path):
    """lib/event_log.py replaces SqliteEventLogStorage._connect (one engine and one kept connection per database file
    instead of an engine and a connection per statement) and extends wipe, dispose and has_table. If an upgrade of Dagster
    changes them or the set-up that calls them, this fails: re-check the override.
    An instance made by junheng records into it, in Dagster's usual folder, and reads back what it wrote; a
    dagster.yaml junheng wrote earlier is brought up to date, one the user wrote is kept."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from junheng.lib.event_log import JunhengSqliteEventLogStorage
    from junheng.lib.instance import HEADER, ensure_home, instance_for

    pinned = {"__init__": "264c15baa761a7bb", "_connect": "b8435f2665689760", "wipe": "de02c63676e7d477",
              "dispose": "df16dafbfa8427c1", "has_table": "577d801c70b2a4a5"}
    seen = {name: hashlib.sha256(inspect.getsource(getattr(SqliteEventLogStorage, name)).encode()).hexdigest()[:16]
            for name in pinned}
    assert seen == pinned, seen

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(HEADER + " an older one\ntelemetry:\n  enabled: false\n", encoding="utf-8")
    instance = instance_for(tmp_path / "w.duckdb")
    storage = instance.event_log_storage
    assert type(storage) is JunhengSqliteEventLogStorage
    assert storage._base_dir == str((home / "history" / "runs").resolve())
    for i in range(3):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["a"], metadata={"i": i}))
    records = instance.fetch_materializations(dg.AssetKey(["a"]), limit=10).records
    assert sorted(r.asset_materialization.metadata["i"].value for r in records) == [0, 1, 2]
    assert set(storage._engines) == {"", "index"}  # runless events' database and the index: an engine each
    assert all(e.pool.checkedin() == 1 for e in storage._engines.values())  # each keeps its one connection
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    ensure_home(own)
    assert (own / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: false\n"


def test_the_flags_views_keep_their_data_version_until_their_definition_changes():
    """dbt_config recreates the views the flags read in every load; their data version is their definition (the
    checksums of the view and of every model and seed it reads), so recreating them unchanged leaves the flags of
    the years outside the load fresh, and a change of a seed they read (the split weights) makes every year stale."""
    import copy

    from junheng.defs.dbt.assets import dbt_project, view_data_versions

    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    parts, stg = "model.junheng.int_school_parts", "model.junheng.stg_census_schools"
    versions = view_data_versions(manifest)
    assert {parts, stg} <= set(versions) and versions == view_data_versions(manifest)
    changed = copy.deepcopy(manifest)
    changed["nodes"]["seed.junheng.split_weights"]["checksum"]["checksum"] = "another"
    after = view_data_versions(changed)
    assert after[parts] != versions[parts] and after[stg] == versions[stg]
    # the flags depend on both views
    from junheng.definitions import defs

    flags = defs.get_repository_def().asset_graph.get(dg.AssetKey(["marts", "submission_flags"]))
    assert {dg.AssetKey(["intermediate", "int_school_parts"]), dg.AssetKey(["staging", "stg_census_schools"])} <= set(
        flags.parent_keys)


def test_plans_sensor_asks_for_the_years_whose_plans_are_missing_or_stale(tmp_path: Path, monkeypatch):
    """plans_sensor (and `junheng run` after a load) plan exactly the years of the published warehouse whose plans
    Dagster reports missing or stale, in one plan_job run; never while a load or plan run is live; a failed plan run
    for the same figures is retried at most MAX_ATTEMPTS times."""
    import duckdb

    from junheng.defs.orchestration import MAX_ATTEMPTS, PLAN_DIGEST_TAG, plans_sensor
    from junheng.lib.warehouse import ensure_raw_schema

    wh = tmp_path / "wh.duckdb"
    monkeypatch.setenv("JUNHENG_WAREHOUSE", str(wh))
    with duckdb.connect(str(wh)) as con:
        ensure_raw_schema(con)
        con.execute("INSERT INTO raw.census_schools (year, school_code, county_code, source_file, source_sha256, "
                    "source_row, loaded_at, load_run_id) SELECT y, '3308220001', '330822', 'f.csv', 'x', 2, now(), 'r' "
                    "FROM (VALUES (2023), (2024)) t(y)")
    from junheng.definitions import defs

    balance = dg.AssetKey(["marts", "county_balance"])

    def tick(instance):
        return plans_sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))

    with dg.instance_for_test() as instance:
        data = tick(instance)  # nothing planned yet: both years
        (req,) = data.run_requests
        assert (req.tags[RANGE_START], req.tags[RANGE_END]) == ("2023", "2024") and req.job_name in (None, "plan_job")
        run = instance.create_run_for_job(dg.GraphDefinition("plan_job", node_defs=[]).to_job(), run_id=None,
                                          tags=req.tags)
        assert not tick(instance).run_requests  # a plan run is live: wait for it
        instance.report_run_failed(run)
        assert tick(instance).run_requests[0].run_key != req.run_key  # failed: asked again (a new attempt)
        for _ in range(MAX_ATTEMPTS - 1):
            instance.report_run_failed(instance.create_run_for_job(
                dg.GraphDefinition("plan_job", node_defs=[]).to_job(), run_id=None, tags=req.tags))
        assert not tick(instance).run_requests  # failed MAX_ATTEMPTS times for the same figures: not again
        # a new load rebuilds the figures: the same years asked again, as a new request (a new digest)
        instance.report_runless_asset_event(dg.AssetMaterialization(balance, partition="2024"))
        (again,) = tick(instance).run_requests
        assert again.tags[PLAN_DIGEST_TAG] != req.tags[PLAN_DIGEST_TAG] and again.run_key.endswith("-0")
    # (that a plan run leaves its years current, and a load makes exactly its years stale again, is shown with real
    # runs: tests/test_end_to_end.py::test_plans_follow_the_figures)
