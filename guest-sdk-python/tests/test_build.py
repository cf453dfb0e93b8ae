"""The build command's checks that run before componentize-py."""

import os
import subprocess
import sys

from conftest import EXAMPLES, SDK


def build(*args):
    env = dict(os.environ, PYTHONPATH=SDK, PATH=os.environ.get("PATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "eddy_sdk.build", *args], capture_output=True, text=True, env=env, cwd=SDK
    )


def test_a_kind_that_is_not_the_classes_is_refused():
    app = os.path.join(EXAMPLES, "word-count", "python", "word_count.py")
    result = build(app, "--kind", "map", "-o", "/nonexistent/out.wasm")
    assert result.returncode != 0
    assert "word_count.CountWords is a keyed-process function (it subclasses eddy_sdk.KeyedProcess), not map" in result.stderr


def test_a_module_without_a_function_is_refused(tmp_path):
    app = tmp_path / "empty_app.py"
    app.write_text("X = 1\n")
    result = build(str(app), "-o", str(tmp_path / "out.wasm"))
    assert result.returncode != 0
    assert "defines no eddy function" in result.stderr


def test_a_module_named_like_a_world_is_refused(tmp_path):
    app = tmp_path / "transform.py"
    app.write_text("import eddy_sdk\nclass F(eddy_sdk.Map):\n    def map(self, v):\n        return v\n")
    result = build(str(app), "-o", str(tmp_path / "out.wasm"))
    assert "cannot be the module name of a component" in result.stderr
