"""``llama-server``, built once from the llama.cpp that PyPI's ``llama-cpp-python`` sdist vendors.

PyPI has no llama.cpp binary for every platform, but the ``llama-cpp-python`` source distribution
carries all of llama.cpp, its C++ OpenAI-compatible server (parallel slots, continuous batching, a
prompt cache per slot) included. The sdist is downloaded with pip (the user's index settings apply),
checked against its pinned sha256, and only its ``vendor/llama.cpp`` tree is unpacked; cmake builds
the one target ``llama-server`` (static, this CPU's instruction set, no HTTPS, no web UI, nothing
fetched at build time) into the user cache. Later runs find the binary there and never rebuild.

Why the C++ server and not the sdist's Python one (``llama_cpp.server``): measured in
``bench/local_model_bench.py``; see the README's local-model section.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import orjson

from treesearch.local.progress import ProgressLine, say
from treesearch.local.registry import LocalModelError
from treesearch.local.weights import cache_root

LLAMA_CPP_PYTHON = "llama-cpp-python"
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SDIST_MB = 77
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_IS_DEV=OFF", "-DGGML_CCACHE=OFF",
)
# ggml's AMX matmul crashes on the first decode on some Sapphire-Rapids-class machines (ggml-org/llama.cpp
# issue 20824: worker threads run tile instructions without the kernel's XTILEDATA permission), and the
# native build turns it on wherever the CPU lists AMX: compiled out, those machines use AVX-512 instead.
X86_CMAKE_FLAGS = ("-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
                   "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16")
_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def cmake_flags(machine: str | None = None) -> list[str]:
    """The configure flags for ``machine`` (this one by default)."""
    machine = machine or platform.machine()
    return [*CMAKE_FLAGS, *(X86_CMAKE_FLAGS if machine in ("x86_64", "AMD64") else ())]


def build_dir() -> Path:
    return cache_root() / "llama.cpp" / f"{LLAMA_CPP_PYTHON_VERSION}-{platform.machine()}"


def server_binary() -> Path | None:
    """The built ``llama-server``, or None if it has not been built here (or was built with other flags)."""
    binary = build_dir() / "bin" / "llama-server"
    stamp = build_dir() / "build.json"
    if not (binary.is_file() and os.access(binary, os.X_OK) and stamp.is_file()):
        return None
    try:
        built_with = orjson.loads(stamp.read_bytes()).get("cmake_flags")
    except orjson.JSONDecodeError:
        return None
    return binary if built_with == cmake_flags() else None


def missing_build_message() -> str:
    return (f"llama-server has not been built on this machine (it goes to {build_dir()}); run "
            f"`treesearch local setup` (about {SDIST_MB} MB download and 5-15 minutes of compiling on 2 cores, "
            f"once), which needs cmake and a C++ compiler")


def ensure_server_binary(offline: bool = False) -> Path:
    """The ``llama-server`` binary, built first if it is not there yet (announced, with progress)."""
    found = server_binary()
    if found is not None:
        return found
    if offline:
        raise LocalModelError(missing_build_message())
    try:
        return build_server()
    except LocalModelError as exc:
        raise LocalModelError(f"{exc}\n{missing_build_message()}") from exc


def build_server() -> Path:
    target = build_dir()
    cmake = _tool("cmake")
    compiler = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        raise LocalModelError("building llama-server needs a C++ compiler (e.g. apt-get install g++)")
    say(f"building llama-server from {LLAMA_CPP_PYTHON} {LLAMA_CPP_PYTHON_VERSION}'s vendored llama.cpp into "
        f"{target} (a {SDIST_MB} MB download, then 5-15 minutes of compiling on 2 cores; done once)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        work = Path(scratch)
        source = _unpack(_download_sdist(work), work / "src")
        build = work / "build"
        jobs = str(os.cpu_count() or 2)
        _run([cmake, "-S", str(source), "-B", str(build), *cmake_flags()], "configure", work / "configure.log")
        _run([cmake, "--build", str(build), "--target", "llama-server", "-j", jobs], "compile", work / "build.log")
        built = build / "bin" / "llama-server"
        if not built.is_file():
            raise LocalModelError(f"the build finished without {built}")
        staging = target.with_name(target.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        shutil.copy2(built, staging / "bin" / "llama-server")
        (staging / "build.json").write_bytes(orjson.dumps({
            "package": LLAMA_CPP_PYTHON, "version": LLAMA_CPP_PYTHON_VERSION, "sdist_sha256": SDIST_SHA256,
            "cmake_flags": cmake_flags(), "machine": platform.machine(), "compiler": compiler,
        }, option=orjson.OPT_INDENT_2))
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    say(f"built {target / 'bin' / 'llama-server'}")
    binary = server_binary()
    assert binary is not None
    return binary


def _tool(name: str) -> str:
    """A build tool from this Python's environment (the [local] extra installs cmake), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise LocalModelError(f"building llama-server needs {name}: pip install 'treesearch[local]' brings it")
    return found


def _download_sdist(work: Path) -> Path:
    dest = work / "sdist"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
               "--dest", str(dest), f"{LLAMA_CPP_PYTHON}=={LLAMA_CPP_PYTHON_VERSION}"]
    say(f"downloading the {LLAMA_CPP_PYTHON} {LLAMA_CPP_PYTHON_VERSION} source distribution ({SDIST_MB} MB) with pip")
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(dest.glob("*.tar.gz"))
    if done.returncode != 0 or len(found) != 1:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise LocalModelError(f"pip could not download {LLAMA_CPP_PYTHON}=={LLAMA_CPP_PYTHON_VERSION}: "
                              f"{tail or 'no source distribution'}")
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise LocalModelError(f"{found[0].name} has sha256 {digest}, not the pinned {SDIST_SHA256}")
    return found[0]


def _unpack(sdist: Path, dest: Path) -> Path:
    """Only ``*/vendor/llama.cpp/...`` regular files and directories, with tarfile's data filter."""
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if "/vendor/llama.cpp/" in f"{m.name}/" and (m.isfile() or m.isdir())]
        if not members:
            raise LocalModelError(f"{sdist.name} has no vendor/llama.cpp tree")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # Python without extraction filters: refuse anything that would leave dest
            for m in members:
                if m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise LocalModelError(f"{sdist.name} has an unsafe member {m.name!r}")
            tar.extractall(dest, members=members)  # noqa: S202 - members checked above
    roots = list(dest.glob("*/vendor/llama.cpp"))
    if len(roots) != 1:
        raise LocalModelError(f"{sdist.name}: expected one vendor/llama.cpp tree, found {len(roots)}")
    return roots[0]


def _run(command: list[str], stage: str, log_path: Path) -> None:
    """Run a build step, its output to ``log_path``; cmake's ``[ NN%]`` lines become progress lines."""
    say(f"llama-server {stage} ...")
    progress = ProgressLine(f"llama-server {stage}", 100, unit="", step=10)
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if m := _PERCENT.match(line):
                progress.update(int(m.group(1)))
        code = process.wait()
    if code != 0:
        kept = build_dir().with_name(f"failed-{stage}.log")
        shutil.copyfile(log_path, kept)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise LocalModelError(f"llama-server {stage} failed (exit {code}); whole log in {kept}, its last lines:\n"
                              + "\n".join(tail))

