"""benchmarks/released.py at a small size: all three imports run and give the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_released_benchmark_prints_its_table_and_the_same_rows():
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "released.py"), "--reals", "20",
                           "--edits", "80", "--files", "4", "--workers", "2", "--processes", "2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for step in ("2 threads, full decode (before)", "2 threads, verify_png", "2 processes, verify_png"):
        assert f"| import edits, {step} | 80 |" in out
    assert "same rows in all three: yes" in out
