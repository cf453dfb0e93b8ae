"""Build a Python module into an eddy WebAssembly component.

    eddy-py-build app.py [--kind KIND] -o app.wasm
    python -m eddy_sdk.build app.py [--kind KIND] -o app.wasm

Finds the function class in ``app.py`` (the one marked ``@eddy_sdk.export``,
else the only subclass of an eddy base class), checks it against ``--kind``
if given, writes an entry module that binds it to the exports of its world,
and runs ``componentize-py`` against the repository's ``wit/``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

SDK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WIT = os.path.join(os.path.dirname(SDK_ROOT), "wit")
WORLD_MODULES = {"transform", "keyed_process", "aggregate", "wit_world", "eddy_entry"}


def load_function(path: str):
    """Import ``path`` natively and return ``(module name, function class)``."""
    from eddy_sdk.functions import find_function

    sys.dont_write_bytecode = True  # leave no __pycache__ beside the app
    name = os.path.splitext(os.path.basename(path))[0]
    if name in WORLD_MODULES or not name.isidentifier():
        raise SystemExit(f"eddy-py-build: rename {path}: `{name}` cannot be the module name of a component")
    directory = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, directory)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(directory)
    try:
        return name, find_function(module)
    except ValueError as error:
        raise SystemExit(f"eddy-py-build: {error}") from None


ENTRY = """\
# Written by eddy-py-build: binds {module}.{cls} to the `{world}` world.
import eddy_sdk._component as _component
import eddy_sdk.functions as _functions
import {module} as _app

_component.bind(_functions.find_function(_app))

from eddy_sdk._component import {export}  # noqa: E402,F401
"""

EXPORTS = {
    "transform": "TransformFunction",
    "keyed-process": "KeyedProcessFunction",
    "aggregate": "AggregateFunction",
}


def find_componentize() -> str:
    found = shutil.which("componentize-py")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "componentize-py")
    if os.path.exists(beside):
        return beside
    raise SystemExit(
        "eddy-py-build: componentize-py not found; run scripts/setup-python-guests.sh "
        "and put the directory it prints on PATH"
    )


def _bytecode(paths):
    """Every ``__pycache__`` file below ``paths``."""
    found = set()
    for root in paths:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "target")]
            if os.path.basename(folder) == "__pycache__":
                found.update(os.path.join(folder, name) for name in files)
    return found


def _remove_new_bytecode(paths, before) -> None:
    """componentize-py's CPython writes ``__pycache__`` beside the modules it
    imports (it ignores PYTHONDONTWRITEBYTECODE): remove what the build added."""
    for path in _bytecode(paths) - before:
        try:
            os.remove(path)
            os.rmdir(os.path.dirname(path))  # only if now empty
        except OSError:
            pass


# componentize-py versions whose runtime leaks every byte list it lowers
# (read in their source and measured; see eddy_sdk/_free_lists.py). The
# patch is for them only: on a version that frees the lists itself, it
# would free them twice.
LEAKING_COMPONENTIZE_PY = {"0.25.0", "0.25.1"}


def componentize_version(componentize: str) -> str:
    out = subprocess.run([componentize, "--version"], capture_output=True, text=True).stdout.split()
    return out[-1] if out else "unknown"


def free_byte_lists(component_path: str, wit_dir: str) -> list[str]:
    """Patch the component componentize-py wrote so that it frees the byte
    lists its exports return and its imports take (componentize-py leaks
    them: see ``eddy_sdk._free_lists``); what was patched."""
    from eddy_sdk._free_lists import patch_component

    wit_text = ""
    for root, _, files in os.walk(wit_dir):
        for name in sorted(files):
            if name.endswith(".wit"):
                with open(os.path.join(root, name), encoding="utf-8") as f:
                    wit_text += f.read() + "\n"
    with open(component_path, "rb") as f:
        component = f.read()
    patched_component, patched = patch_component(component, wit_text)
    if patched:
        with open(component_path, "wb") as f:
            f.write(patched_component)
    return patched


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="eddy-py-build", description=__doc__.splitlines()[0])
    parser.add_argument("app", help="the Python module (a .py file) defining the function")
    parser.add_argument("-o", "--output", required=True, help="the component to write (.wasm)")
    parser.add_argument("--kind", help="the job file's kind; checked against the function's class")
    parser.add_argument("--wit", default=DEFAULT_WIT, help="the WIT folder (default: the checkout's wit/)")
    parser.add_argument(
        "-p", "--python-path", action="append", default=[], help="more directories with modules the app imports"
    )
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)

    if SDK_ROOT not in sys.path:
        sys.path.insert(0, SDK_ROOT)
    module, cls = load_function(args.app)
    if args.kind and args.kind != cls.kind:
        raise SystemExit(
            f"eddy-py-build: {module}.{cls.__name__} is a {cls.kind} function "
            f"(it subclasses eddy_sdk.{cls.__mro__[1].__name__}), not {args.kind}"
        )
    componentize = find_componentize()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="eddy-py-build-") as entry_dir:
        with open(os.path.join(entry_dir, "eddy_entry.py"), "w") as entry:
            entry.write(ENTRY.format(module=module, cls=cls.__name__, world=cls.world, export=EXPORTS[cls.world]))
        command = [componentize, "-d", args.wit, "-w", cls.world]
        if args.quiet:
            command.append("-q")
        command += ["componentize", "eddy_entry", "-p", entry_dir, "-p", os.path.dirname(os.path.abspath(args.app))]
        for extra in args.python_path:
            command += ["-p", extra]
        command += ["-p", SDK_ROOT, "-o", args.output]
        env = dict(os.environ)
        env.pop("VIRTUAL_ENV", None)  # only the paths above go into the component
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        searched = [os.path.dirname(os.path.abspath(args.app)), os.path.join(SDK_ROOT, "eddy_sdk"), *args.python_path]
        before = _bytecode(searched)
        try:
            result = subprocess.run(command, env=env)
        finally:
            _remove_new_bytecode(searched, before)
        if result.returncode != 0:
            print(f"eddy-py-build: componentize-py failed ({' '.join(command)})", file=sys.stderr)
            return result.returncode
    version = componentize_version(componentize)
    if version in LEAKING_COMPONENTIZE_PY:
        free_byte_lists(args.output, args.wit)
    else:
        print(
            f"eddy-py-build: warning: componentize-py {version} is not one whose leak of returned byte lists "
            f"eddy-py-build knows ({', '.join(sorted(LEAKING_COMPONENTIZE_PY))}); component left unpatched "
            "(see eddy_sdk/_free_lists.py)",
            file=sys.stderr,
        )
    if not args.quiet:
        size = os.path.getsize(args.output)
        print(
            f"eddy-py-build: {args.output}: {cls.kind} function {module}.{cls.__name__}, "
            f"world {cls.world}, {size / 1e6:.1f} MB, {time.monotonic() - started:.1f} s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
