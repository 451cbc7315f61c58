"""`daggerc build` and `daggerc graph` as a user runs them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from codegen_support import (
    ROOT,
    fresh_input,  # noqa: F401 - a fixture: pytest finds it by name
)

from codegen.cli import main
from codegen.render import GENERATED_MARK

ORDERS = "examples/orders.py"


@pytest.mark.usefixtures("fresh_input")
def test_build_writes_one_module_per_workflow_and_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    assert main(["build", ORDERS, "--out", str(out), "--no-typecheck"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["__init__.py", "orders.py"]
    text = (out / "orders.py").read_text(encoding="utf-8")
    assert text.startswith(f"{GENERATED_MARK} 0.1.0 from {ORDERS}:OrderWorkflow. DO NOT EDIT.\n")
    assert (out / "orders.py").stat().st_mode & 0o777 == 0o644
    err = capsys.readouterr().err
    assert "daggerc: loaded 1 workflow" in err
    assert f"daggerc: wrote {out / 'orders.py'}" in err


@pytest.mark.usefixtures("fresh_input")
def test_a_second_build_rewrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    assert main(["build", ORDERS, "--out", str(out), "--no-typecheck"]) == 0
    before = (out / "orders.py").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["build", ORDERS, "--out", str(out), "--no-typecheck"]) == 0
    assert (out / "orders.py").stat().st_mtime_ns == before
    assert "2 unchanged" in capsys.readouterr().out


@pytest.mark.usefixtures("fresh_input")
def test_build_removes_the_module_of_a_workflow_that_is_gone(tmp_path: Path) -> None:
    dsl = tmp_path / "dsl"
    dsl.mkdir()
    (dsl / "flows.py").write_text((ROOT / ORDERS).read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "gen"
    (out).mkdir()
    (out / "flows_old.py").write_text(f"{GENERATED_MARK} 0.1.0 from flows.py:Old. DO NOT EDIT.\n")
    (out / "mine.py").write_text("# hand-written, not ours\n")
    assert main(["build", str(dsl / "flows.py"), "--out", str(out), "--no-typecheck"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["__init__.py", "flows.py", "mine.py"]
    assert 'MODULES: tuple[str, ...] = ("flows",)' in (out / "__init__.py").read_text()


@pytest.mark.usefixtures("fresh_input")
def test_a_build_that_changes_a_workflow_warns_of_its_runs_in_flight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsl = tmp_path / "dsl"
    dsl.mkdir()
    source = (ROOT / ORDERS).read_text(encoding="utf-8")
    (dsl / "flows.py").write_text(source, encoding="utf-8")
    out = tmp_path / "gen"
    build = ["build", str(dsl / "flows.py"), "--out", str(out), "--no-typecheck"]
    assert main(build) == 0
    assert "DGR321" not in capsys.readouterr().err  # a first build changes nothing
    old = _version(out / "flows.py")
    changed = source.replace('process("CONFIRM")', 'process("CONFIRMED")')
    assert changed != source
    (dsl / "flows.py").write_text(changed, encoding="utf-8")
    del sys.modules["flows"]  # as a new daggerc process would, import the file again
    assert main(build) == 0
    new = _version(out / "flows.py")
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "DGR321" in x)
    workflow_line = 1 + changed[: changed.index("OrderWorkflow = (")].count("\n")
    assert line.startswith(f"{dsl / 'flows.py'}:{workflow_line + 1}:")
    assert f"workflow 'OrderWorkflow' (version {old} -> {new})" in line
    assert "daggerc list --workflow OrderWorkflow --status EXECUTING" in err
    assert main(build) == 0
    assert "DGR321" not in capsys.readouterr().err  # the same build again: nothing changes


def _version(module: Path) -> str:
    text = module.read_text(encoding="utf-8")
    return text.split('    version="', 1)[1].split('"', 1)[0]


@pytest.mark.usefixtures("fresh_input")
def test_build_with_diagnostics_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gen"
    code = main(["build", "tests/cases/check_empty_process/input.py", "--out", str(out)])
    assert code == 1
    assert not out.exists()
    assert f"daggerc: nothing written to {out}" in capsys.readouterr().err


def test_build_of_a_missing_path_is_a_diagnostic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "no/such/dir", "--no-typecheck"]) == 1
    assert "DGR000 no such file, folder or module: 'no/such/dir'" in capsys.readouterr().err


@pytest.mark.usefixtures("fresh_input")
def test_graph_prints_mermaid_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{ORDERS}:OrderWorkflow"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert '    subgraph p1["PAYMENT"]\n' in out
    assert '    n4 -->|"then"| n5\n' in out


@pytest.mark.usefixtures("fresh_input")
def test_graph_prints_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{ORDERS}:OrderWorkflow", "--format", "dot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('digraph "OrderWorkflow" {\n')
    assert "    subgraph cluster_1 {\n" in out
    assert out.rstrip().endswith("}")


@pytest.mark.usefixtures("fresh_input")
def test_graph_names_the_workflows_it_found_when_the_name_is_wrong(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["graph", f"{ORDERS}:Nope"]) == 1
    assert "no workflow named 'Nope' in examples/orders.py (found: OrderWorkflow)" in (
        capsys.readouterr().err
    )


def test_graph_without_a_workflow_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", ORDERS]) == 2
    assert "expected PATH:Workflow" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz is installed here")
def test_svg_without_graphviz_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{ORDERS}:OrderWorkflow", "--format", "svg"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "needs Graphviz's 'dot' on PATH" in err


@pytest.mark.usefixtures("fresh_input")
@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
def test_svg_with_graphviz_draws_the_workflow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{ORDERS}:OrderWorkflow", "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert "<svg" in out
    assert "PAYMENT" in out
