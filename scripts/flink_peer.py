"""The Apache Flink peer, and eddy's binary, for the scripts that measure eddy beside Flink.

Shared by compare-flink.py (jobs A, B and L, `FlinkBench.java`) and
nexmark-bench.py (Nexmark, `nexmark/NexmarkBench.java`). Flink runs as the
peer's own run.sh runs it: the jars of the PyPI `apache-flink` wheel, the
peer's Java sources compiled against them with javac, OpenJDK 17, Flink's
embedded MiniCluster in one JVM. The first `setup` installs the wheel into a
venv under $EDDY_CACHE/flink-peer (about 1 GB, minutes); later ones reuse it.

Environment: FLINK_PEER (the peer's folder, default ../shared/peers/flink
beside the repository), EDDY_CACHE (default ~/.cache/eddy-ci), FLINK_VERSION
(2.3.0), JAVA_XMX (the JVM's heap cap, 2g), PY (the python that makes the
venv, python3.11), EDDY (an eddy binary to use instead of building one),
CARGO_TARGET_DIR. Stdlib only.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEER = os.environ.get("FLINK_PEER", os.path.join(os.path.dirname(REPO), "shared", "peers", "flink"))
CACHE = os.environ.get("EDDY_CACHE", os.path.expanduser("~/.cache/eddy-ci"))
LAB = os.path.join(CACHE, "flink-peer")
FLINK_VERSION = os.environ.get("FLINK_VERSION", "2.3.0")
JAVA_XMX = os.environ.get("JAVA_XMX", "2g")

# JVM flags Flink itself uses on Java 17 (as the peer's runbench.py).
ADD_OPENS = [f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
    "java.lang", "java.net", "java.io", "java.nio", "sun.nio.ch", "java.lang.reflect", "java.text",
    "java.time", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
    "java.util.concurrent.locks")]

# What /usr/bin/time prints, as the last line of the command's stderr: wall
# seconds, user and system CPU seconds, peak RSS in KiB.
TIME_MARK = "FLINK_PEER_TIME"
TIME_FORMAT = f"{TIME_MARK} %e %U %S %M"


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


def require_time():
    if not os.access("/usr/bin/time", os.X_OK):
        sys.exit("error: /usr/bin/time not found; install GNU time (apt-get install -y time)")


def flink_lib():
    """The jars of the `apache-flink` wheel (pyflink/lib), installing it into the venv if needed."""
    for tool in ("java", "javac"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            sys.exit(f"error: {tool} not found; install OpenJDK 17 (apt-get install -y openjdk-17-jdk-headless)")
    venv = os.path.join(LAB, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        run([os.environ.get("PY", "python3.11"), "-m", "venv", venv])
    probe = subprocess.run([python, "-c", "import pyflink.version as v; print(v.__version__)"],
                           capture_output=True, text=True)
    if probe.returncode or probe.stdout.strip() != FLINK_VERSION:
        run([os.path.join(venv, "bin", "pip"), "install", "-q", f"apache-flink=={FLINK_VERSION}"])
    return subprocess.run(
        [python, "-c", "import importlib.util as u, os; "
         "print(os.path.join(u.find_spec('pyflink').submodule_search_locations[0], 'lib'))"],
        check=True, capture_output=True, text=True).stdout.strip()


def setup(sources, build_name):
    """The wheel's jars, and `sources` (paths of .java files) compiled together into
    $EDDY_CACHE/flink-peer/<build_name> unless every source's class is newer than
    every source; returns (lib, build)."""
    lib = flink_lib()
    build = os.path.join(LAB, build_name)
    classes = [os.path.join(build, os.path.splitext(os.path.basename(s))[0] + ".class") for s in sources]
    newest_source = max(os.path.getmtime(s) for s in sources)
    if not all(os.path.exists(c) and os.path.getmtime(c) >= newest_source for c in classes):
        os.makedirs(build, exist_ok=True)
        run(["javac", "-Xlint:-options", "-cp", f"{lib}/*", "-d", build, *sources])
    return lib, build


def java_command(lib, build, main_class, args):
    """The command line of one run of `main_class` with key=value `args` (a list)."""
    return ["java", f"-Xmx{JAVA_XMX}", f"-Dlog4j.configurationFile=file:{PEER}/log4j2.properties",
            *ADD_OPENS, "-cp", f"{build}:{lib}/*", main_class, *args]


def timed(cmd):
    """Runs `cmd` under /usr/bin/time; returns (CompletedProcess with time's line
    removed from stderr, {"wall_s", "user_s", "sys_s", "rss_kb"}, empty if time
    printed nothing)."""
    done = subprocess.run(["/usr/bin/time", "-f", TIME_FORMAT, *cmd], capture_output=True, text=True)
    lines = done.stderr.splitlines()
    measured = {}
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(TIME_MARK + " "):
            wall, user, system, rss = lines[i].split()[1:5]
            measured = {"wall_s": float(wall), "user_s": float(user), "sys_s": float(system),
                        "rss_kb": float(rss)}
            del lines[i]
            done.stderr = "\n".join(lines) + ("\n" if lines else "")
            break
    return done, measured


def run_java(lib, build, main_class, args, time=True):
    """One run of a peer benchmark class; returns (its `RESULT {json}` line as a dict,
    what /usr/bin/time measured, or {} when `time` is false). Raises RuntimeError
    when the JVM fails or prints no RESULT line."""
    cmd = java_command(lib, build, main_class, args)
    if time:
        done, measured = timed(cmd)
    else:
        done, measured = subprocess.run(cmd, capture_output=True, text=True), {}
    result = next((json.loads(line[7:]) for line in done.stdout.splitlines()
                   if line.startswith("RESULT ")), None)
    if done.returncode or result is None:
        raise RuntimeError(f"Flink run failed ({main_class} {' '.join(args)}):\n{done.stderr[-2000:]}")
    return result, measured


def eddy_binary(features, all_bins=False):
    """$EDDY if set, else a release eddy built with cargo `features` (a list): the
    `eddy` binary, or every binary of the package with `all_bins`."""
    if os.environ.get("EDDY"):
        return os.environ["EDDY"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
    run(["cargo", "build", "--release", "--locked", "--features", ",".join(features),
         *(["--bins"] if all_bins else ["--bin", "eddy"])],
        cwd=REPO, env={**os.environ, "CARGO_TARGET_DIR": target})
    return os.path.join(target, "release", "eddy")
