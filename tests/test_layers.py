"""The layer contracts of ``pyproject.toml`` (import-linter): kept by the package as it is, and
broken by an import that goes up a layer (a copy of the package with one added import)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"

pytest.importorskip("importlinter")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layer_contracts():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("targeting/engines/local.py", "from targeting.jobs import stages", "Layers"),
    ("targeting/app/views.py", "from targeting import risk", "The app and the report"),
    ("targeting/summaries.py", "import duckdb", "only module that speaks SQL"),
    ("targeting/ingest/csv_reader.py", "from targeting.ingest import jsonl", "one reader per format"),
])
def test_an_import_against_a_contract_breaks_it(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "targeting", tmp_path / "targeting", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402\n")
    done = _lint(tmp_path)
    assert done.returncode == 1
    broken = " ".join(done.stdout.split("Broken contracts")[-1].split())  # the report wraps long names
    assert "Contracts: 5 kept, 1 broken." in done.stdout and contract in broken, done.stdout


def test_the_app_and_map_reading_never_import_the_fitting_libraries():
    """The analyst app reads fitted maps and stored topic phrases; scikit-learn and UMAP (over
    a second to import on this machine) are for fitting and labelling only, so an analyst's
    first page does not wait for them."""
    probe = ("import sys, targeting.app.data, targeting.capmap; "
             "print(sorted(m for m in ('sklearn', 'umap', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    fit = subprocess.run([sys.executable, "-c", "from targeting.capmap import fit_map; print(fit_map.__module__)"],
                         capture_output=True, text=True, check=True)
    assert fit.stdout.strip() == "targeting.capmap.fit"  # still there, on first use
