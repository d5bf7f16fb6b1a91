"""Resource limits for one sandboxed run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Limits:
    """What one run of one candidate (all the tests passed with it) may use.

    ``wall_s`` bounds the whole run and is enforced by the parent, which kills the sandbox. ``test_s``
    bounds each test (and loading the program): a timer inside the sandbox stops a Python-level
    loop so the other tests still run, and the parent kills a test that ignores the timer (a loop
    in C such as a huge ``pow``) and runs the remaining tests in a fresh sandbox. The rest are
    per-process rlimits set inside the sandbox: CPU seconds, address space, the size of any file
    written (and, with bubblewrap, of the private temp dir), open files, and processes (the pids
    cgroup when the engine runs as root, which rlimits do not bind). ``output_bytes`` caps the
    process's stdout and stderr, each test's printed output, and each value sent back to the parent.
    """

    wall_s: float = 10.0
    test_s: float = 3.0
    cpu_s: float = 10.0
    memory_mb: int = 512
    file_size_mb: int = 16
    open_files: int = 64
    processes: int = 32
    output_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, got {value!r}")
        if self.open_files < 16:
            raise ValueError("Limits.open_files must be at least 16: the interpreter itself needs a few")
        if self.processes < 4:
            raise ValueError("Limits.processes must be at least 4: the harness and stdio tests need a few")

    def rlimits(self) -> list[tuple[str, int]]:
        """(resource name, value) pairs the harness sets on itself before loading the candidate."""
        return [
            ("RLIMIT_CPU", max(1, round(self.cpu_s))),
            ("RLIMIT_AS", self.memory_mb << 20),
            ("RLIMIT_FSIZE", self.file_size_mb << 20),
            ("RLIMIT_NOFILE", self.open_files),
            ("RLIMIT_NPROC", self.processes),
            ("RLIMIT_CORE", 0),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
