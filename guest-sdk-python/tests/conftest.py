"""Makes `eddy_sdk` and the Python examples importable in the tests."""

import importlib.util
import os
import sys

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(SDK)
EXAMPLES = os.path.join(REPO, "examples-wasm")
sys.path.insert(0, SDK)
sys.dont_write_bytecode = True  # no __pycache__ in the examples' folders


def example_module(example: str, module: str):
    """Import examples-wasm/<example>/python/<module>.py."""
    path = os.path.join(EXAMPLES, example, "python", module + ".py")
    spec = importlib.util.spec_from_file_location(f"example_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def example_data(example: str, name: str) -> str:
    with open(os.path.join(EXAMPLES, example, "data", name), encoding="utf-8") as file:
        return file.read()
