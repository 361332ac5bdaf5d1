"""Config parsing and validation: every bad value gets a message naming file and key."""

from __future__ import annotations

import copy

import pytest

from imbalance_spark.common.names import label_key
from imbalance_spark.config.load import load_config, parse_config
from imbalance_spark.errors import ConfigError

BASE = {
    "dataset": "d",
    "input": {"path": "/data/in", "format": "delta"},
    "label_column": "y",
    "downsampling": {"factor": 20, "seed": 1},
    "output": {"path": "/data/out", "partition_by": ["event_date"]},
}


def with_(mutate):
    data = copy.deepcopy(BASE)
    mutate(data)
    return data


def test_minimal_config_gets_defaults():
    cfg = parse_config(BASE)
    assert cfg.weight.column == "example_weight"
    assert cfg.output.mode is None  # resolved per run: replace_slice with a run date, else overwrite
    assert cfg.null_labels == "error"
    assert cfg.minority_keys() is None
    assert cfg.downsampling.factor_for("0") == 20.0


def test_stats_columns_default_to_label_weight_and_date():
    assert parse_config(BASE).stats_columns() == ["y", "example_weight"]
    unpartitioned = with_(lambda d: (d["output"].update(partition_by=[]), d["input"].update(date_column="event_date")))
    assert parse_config(unpartitioned).stats_columns() == ["y", "example_weight", "event_date"]
    assert parse_config(with_(lambda d: d["output"].update(stats_columns="all"))).stats_columns() is None
    assert parse_config(with_(lambda d: d["output"].update(stats_columns=["amount"]))).stats_columns() == ["amount"]


def test_factor_mapping_and_label_keys():
    cfg = parse_config(with_(lambda d: d["downsampling"].update(factor={0: 20, "b": 5, True: 2})))
    assert cfg.downsampling.factor_for("0") == 20.0
    assert cfg.downsampling.factor_for("b") == 5.0
    assert cfg.downsampling.factor_for("true") == 2.0
    assert cfg.downsampling.factor_for("zzz") is None
    assert [label_key(v) for v in (1, "1", True, False)] == ["1", "1", "true", "false"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["downsampling"].update(factor=0.5), "downsampling.factor: factor must be a finite number >= 1"),
        (lambda d: d["downsampling"].update(factor=0), "downsampling.factor: factor must be a finite number >= 1"),
        (lambda d: d["downsampling"].update(factor=-3), "downsampling.factor"),
        (lambda d: d["downsampling"].update(factor=float("inf")), "downsampling.factor"),
        (lambda d: d["downsampling"].update(factor="20"), "factor must be a number >= 1, got '20'"),
        (lambda d: d["downsampling"].update(factor=True), "factor must be a number"),
        (lambda d: d["downsampling"].update(factor={}), "non-empty"),
        (lambda d: d["downsampling"].update(factor={0: 0.9}), "factor of class 0 must be"),
        (lambda d: d["downsampling"].update(factor={1.5: 3}), "class 1.5 must be an integer, string or boolean"),
        (lambda d: d["downsampling"].pop("factor"), "downsampling: set `factor` (e.g. 20) or `target_minority_share`"),
        (lambda d: d["downsampling"].update(target_minority_share=0.1), "set either `factor` or `target_minority_share`, not both"),
        (lambda d: d.update(downsampling={"target_minority_share": 1.5}), "strictly between 0 and 1"),
        (lambda d: d.update(downsampling={"target_minority_share": 0}), "strictly between 0 and 1"),
        (lambda d: d["downsampling"].update(method="hash"), "method hash needs `key_columns`"),
        (lambda d: d["downsampling"].update(method="random"), "downsampling.method"),
        (lambda d: d["downsampling"].update(key_columns=["id"]), "`key_columns` only apply to method: hash"),
        (lambda d: d["downsampling"].update(skip_if_degree=["severe"]), "downsampling.skip_if_degree"),
        (lambda d: d["downsampling"].update(method="hash", key_columns=["id"], null_keys="drop"), "downsampling.null_keys"),
        (lambda d: d.update(weight={"mode": "exact"}), "weight.mode"),
        (lambda d: d.update(guards={"sigmas": 0}), "guards.sigmas: must be a positive number"),
        (lambda d: d.update(guards={"enabled": "yes"}), "guards.enabled"),
        (lambda d: d["downsampling"].update(seed="x"), "downsampling.seed"),
        (lambda d: d["downsampling"].update(sed=1), "downsampling.sed: unknown key"),
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d.pop("label_column"), "label_column: required key is missing"),
        (lambda d: d.pop("dataset"), "dataset: required key is missing"),
        (lambda d: d.update(label_column=3), "label_column"),
        (lambda d: d["input"].update(format="orc"), "input.format"),
        (lambda d: d["input"].update(table="db.t"), "input: set exactly one of `path` or `table`"),
        (lambda d: d["input"].pop("path"), "input: set exactly one of `path` or `table`"),
        (lambda d: d["output"].update(mode="append"), "output.mode"),
        (lambda d: d["output"].update(partition_by="event_date"), "output.partition_by"),
        (lambda d: d["output"].update(path="/data/in"), "output.path: /data/in is equal to or inside input.path"),
        (lambda d: d["output"].update(path="/data/in/sub"), "is equal to or inside input.path"),
        (lambda d: d.update(minority_classes=[]), "minority_classes: the list is empty"),
        (lambda d: d.update(minority_classes=1), "minority_classes"),
        (lambda d: d.update(minority_classes=[0], downsampling={"factor": {0: 5}}), "also listed in minority_classes"),
        (lambda d: d.update(null_labels="keep"), "null_labels"),
        (lambda d: d.update(weight={"column": "y"}), "weight.column: must differ"),
        (lambda d: d["output"].update(partition_by=["y"]), "label column cannot be a partition column"),
        (lambda d: d["output"].update(stats_columns=[]), "output.stats_columns: the list is empty"),
        (lambda d: d["output"].update(stats_columns="some"), "output.stats_columns"),
        (lambda d: d["output"].update(stats_columns=["event_date"]), "['event_date'] are partition columns"),
    ],
)
def test_bad_values_are_named(mutate, message):
    with pytest.raises(ConfigError) as err:
        parse_config(with_(mutate), "conf/x.yaml")
    text = str(err.value)
    assert text.startswith("conf/x.yaml: ")
    assert message in text
    assert "\n" not in text


def test_env_vars_expand_and_missing_ones_are_errors(monkeypatch):
    monkeypatch.setenv("DATA_ROOT", "/lake")
    cfg = parse_config(with_(lambda d: d["input"].update(path="${DATA_ROOT}/tx")))
    assert cfg.input.path == "/lake/tx"
    monkeypatch.delenv("DATA_ROOT")
    with pytest.raises(ConfigError, match=r"input.path uses \$\{DATA_ROOT\} but that environment variable is not set"):
        parse_config(with_(lambda d: d["input"].update(path="${DATA_ROOT}/tx")))


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = parse_config(with_(lambda d: d.update(input={"path": "in"}, output={"path": "out"})))
    assert cfg.input.path == str(tmp_path / "in")
    assert cfg.output.path == str(tmp_path / "out")
    uri = parse_config(with_(lambda d: d.update(input={"path": "s3a://bucket/in"})))
    assert uri.input.path == "s3a://bucket/in"


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        load_config(scalar)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("dataset: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(unsafe)


def test_a_misspelled_key_is_named_before_the_missing_one(tmp_path):
    data = with_(lambda d: d.update(lable_column=d.pop("label_column")))
    with pytest.raises(ConfigError) as err:
        parse_config(data, "c.yaml")
    # every problem, one line each: nothing hidden behind "(and 1 more problem(s))"
    assert err.value.lines == [
        "c.yaml: lable_column: unknown key; did you mean 'label_column'?",
        "c.yaml: label_column: required key is missing",
    ]
    assert str(err.value) == "\n".join(err.value.lines)
    with pytest.raises(ConfigError, match=r"downsampling\.factr: unknown key; did you mean 'factor'\?"):
        parse_config(with_(lambda d: d["downsampling"].update(factr=d["downsampling"].pop("factor"))))
    with pytest.raises(ConfigError, match=r"surprise: unknown key$"):
        parse_config(with_(lambda d: d.update(surprise=1)))


def test_every_problem_is_listed_one_line_each():
    data = with_(lambda d: (d["downsampling"].update(factor=0.5), d.update(null_labels="keep", surprise=1)))
    with pytest.raises(ConfigError) as err:
        parse_config(data, "c.yaml")
    lines = str(err.value).splitlines()
    assert len(lines) == 3 and all(line.startswith("c.yaml: ") for line in lines)
    assert lines[0] == "c.yaml: surprise: unknown key"
    assert any("downsampling.factor: factor must be a finite number >= 1" in line for line in lines)
    assert any(line.startswith("c.yaml: null_labels: ") for line in lines)


def test_every_missing_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("NO_SUCH_ROOT", raising=False)
    monkeypatch.delenv("NO_SUCH_OUT", raising=False)
    data = with_(lambda d: (d["input"].update(path="${NO_SUCH_ROOT}/in"), d["output"].update(path="${NO_SUCH_OUT}")))
    with pytest.raises(ConfigError) as err:
        parse_config(data, "c.yaml")
    assert str(err.value).splitlines() == [
        "c.yaml: input.path uses ${NO_SUCH_ROOT} but that environment variable is not set",
        "c.yaml: output.path uses ${NO_SUCH_OUT} but that environment variable is not set",
    ]


def test_only_a_schedule_block_asks_for_a_dag(tmp_path):
    from imbalance_spark.config.load import load_schedule

    assert parse_config(BASE).schedule.enabled is False
    assert parse_config(with_(lambda d: d.update(schedule={"cron": "@hourly"}))).schedule.enabled is True
    cases = {"none.yaml": "", "empty.yaml": "schedule: {}\n", "off.yaml": "schedule:\n  enabled: false\n"}
    got = {}
    for name, extra in cases.items():
        (tmp_path / name).write_text(f"dataset: d_{name[:-5]}\n{extra}")
        got[name] = load_schedule(tmp_path / name)[1].enabled
    assert got == {"none.yaml": False, "empty.yaml": True, "off.yaml": False}
    (tmp_path / "typo.yaml").write_text("dataset: t\nschedule:\n  corn: '@daily'\n")
    with pytest.raises(ConfigError, match=r"schedule\.corn: unknown key; did you mean 'cron'\?"):
        load_schedule(tmp_path / "typo.yaml")


def test_demo_config_is_valid_and_hashed():
    from tests.conftest import REPO_ROOT

    cfg = load_config(REPO_ROOT / "conf" / "datasets" / "demo_fraud.yaml")
    assert cfg.dataset == "demo_fraud"
    assert cfg.downsampling.factor == 20
    assert cfg.source_sha256 and len(cfg.source_sha256) == 64
    # a copy of the demo (as the README says) must not start running daily unasked
    assert not cfg.schedule.enabled


def test_spark_section_gives_spark_strings_and_refuses_unknown_keys():
    cfg = parse_config(with_(lambda d: d.update(spark={"conf": {"spark.driver.memory": "2g", "x.n": 4, "x.on": True}})))
    assert cfg.spark.settings() == {"spark.driver.memory": "2g", "x.n": "4", "x.on": "true"}
    assert cfg.spark.quick_start is False
    assert parse_config(with_(lambda d: d.update(spark={"quick_start": True}))).spark.quick_start is True
    with pytest.raises(ConfigError, match=r"spark\.quick_strat"):
        parse_config(with_(lambda d: d.update(spark={"quick_strat": True})))
    with pytest.raises(ConfigError, match=r"spark\.quick_start"):
        parse_config(with_(lambda d: d.update(spark={"quick_start": "yes"})))


def test_load_spark_settings_reads_only_the_spark_block(tmp_path):
    from imbalance_spark.config.load import load_spark_settings

    path = tmp_path / "d.yaml"
    path.write_text("dataset: d\nspark:\n  quick_start: true\n  conf: {spark.driver.memory: 2g}\n")
    spark = load_spark_settings(path)
    assert spark.quick_start is True and spark.settings() == {"spark.driver.memory": "2g"}
    path.write_text("dataset: d\n")
    assert load_spark_settings(path).quick_start is False
    path.write_text("dataset: d\nspark:\n  quickstart: true\n")
    with pytest.raises(ConfigError, match=r"d\.yaml: spark\.quickstart"):
        load_spark_settings(path)
