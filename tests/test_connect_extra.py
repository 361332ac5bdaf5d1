"""The `connect` extra: pyspark's Connect client dependencies, and `--remote` without them (one line, exit 6)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib.metadata import requires

import pytest
from packaging.version import Version

from imbalance_spark.errors import ConnectServerError
from tests.conftest import REPO_ROOT, cli_env, write_config

# The interpreter as an install without the Connect client sees it: importing grpc fails, as it does
# where grpcio is not installed (a script, not `python -c`: pyspark's own dependency check treats a
# __main__ without a file as a doctest run and exits 0).
NO_GRPC = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoGrpc(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("grpc", "grpc_status"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoGrpc())
    from imbalance_spark.cli import main

    sys.exit(main(sys.argv[1:]))
    """
)


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_the_connect_extra_lists_what_pyspark_connect_needs():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    ours = {_name(r): r for r in extras["connect"]}
    theirs = [r.split(";")[0].strip() for r in requires("pyspark") or [] if 'extra == "connect"' in r]
    assert theirs, "pyspark lists no connect extra"
    for req in theirs:
        name = _name(req)
        assert name in ours, f"pyproject.toml's connect extra lacks {req} (pyspark's own connect extra)"
        theirs_floor, ours_floor = (re.search(r">=\s*([\d.]+)", r) for r in (req, ours[name]))
        if theirs_floor:
            assert ours_floor and Version(ours_floor[1]) >= Version(theirs_floor[1]), (
                f"pyproject.toml pins {ours[name]}; pyspark asks for {req}"
            )


def test_remote_without_the_connect_client_exits_with_one_line(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", textwrap.dedent(f"""
        dataset: no_client
        input: {{path: {tmp_path / 'in'}, format: delta}}
        label_column: y
        minority_classes: [1]
        downsampling: {{factor: 10}}
        output: {{path: {tmp_path / 'out'}}}
    """))
    (tmp_path / "no_grpc.py").write_text(NO_GRPC)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "no_grpc.py"), "run", "--config", str(cfg), "--remote", "sc://127.0.0.1:1"],
        capture_output=True, text=True, env=cli_env(), cwd=tmp_path, timeout=120,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == ConnectServerError.exit_code == 6, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("imbalance-spark: error: --remote sc://127.0.0.1:1: the Spark Connect client is not"
                               " installed (No module named 'grpc')"), lines[0]
    assert "pip install 'imbalance-spark[connect]'" in lines[0] and "pip install -e '.[connect]'" in lines[0]
    assert "Traceback" not in proc.stderr
