"""Property tests of the config: any YAML document loads into a valid config or raises ConfigError.

Never another exception, and the error is one line that names the file.
"""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imbalance_spark.config.load import load_config, parse_config
from imbalance_spark.config.models import JobConfig
from imbalance_spark.errors import ConfigError

BASE = {
    "dataset": "d",
    "input": {"path": "/data/in", "format": "delta", "date_column": "event_date"},
    "label_column": "y",
    "minority_classes": [1],
    "downsampling": {"factor": 20, "seed": 1},
    "weight": {"column": "example_weight"},
    "output": {"path": "/data/out", "partition_by": ["event_date"], "max_partitions": 1000},
    "guards": {"sigmas": 6},
    "schedule": {"cron": "@daily"},
}

KEYS = sorted({k for section in BASE.values() if isinstance(section, dict) for k in section} | set(BASE))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "0", "1.0", "${HOME}", "${NO_SUCH_VAR_X}", "s3://a:b@c/d", "a\x00b", "../x", "~", "2026-01-01"]),
    st.dates(),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(), st.booleans()), children, max_size=5),
    ),
    max_leaves=25,
)


def _mutate(data: dict, path: list, value) -> dict:
    """``data`` with the key at ``path`` set to ``value`` (creating sections as needed)."""
    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return data


paths = st.one_of(
    st.sampled_from(KEYS).map(lambda k: [k]),
    st.sampled_from(["input", "output", "report", "history"]).map(lambda k: [k, "path"]),
    st.tuples(st.sampled_from([k for k, v in BASE.items() if isinstance(v, dict)]), st.sampled_from(KEYS)).map(list),
)


def _check(data, source: str = "<config>") -> None:
    try:
        cfg = parse_config(data, source)
    except ConfigError as exc:
        text = str(exc)
        # one line per problem, each naming the file
        assert all(line.startswith(source) or line.startswith("<config>") for line in text.splitlines()), text
        assert "Traceback" not in text
        return
    assert isinstance(cfg, JobConfig)
    cfg.summary()  # a valid config can always be summarized (report, lineage)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_is_a_config_or_a_config_error(data):
    _check(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths, documents)
@example(["input", "path"], "a\x00b")  # found by this test: Path.resolve raised ValueError
@example(["history", "path"], "a\x00b")
@example(["output", "path"], "/" + "x" * 5000)
@example(["minority_classes"], [float("nan")])
@example(["downsampling"], {"factor": {float("inf"): 2}})
def test_any_single_wrong_value_in_a_valid_config_is_a_config_error(path, value):
    _check(_mutate(BASE, path, value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), documents.map(lambda d: yaml.safe_dump(d, allow_unicode=True))))
def test_any_file_text_loads_or_raises_config_error(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)), str(exc)
        return
    assert isinstance(cfg, JobConfig)


def test_base_config_is_valid():
    assert parse_config(BASE).output.max_partitions == 1000
