"""Tries to write a file named after n into the engine's directories. It answers 2 * n only if one
of the writes worked."""
import os


def solve(n):
    name = f"treesearch-hostile-{n}"
    escaped = False
    for directory in ["/tmp", "/var/tmp", "/root", "/work", os.path.expanduser("~"), "/usr/lib", "/etc", "/"]:
        try:
            with open(os.path.join(directory, name), "w") as f:
                f.write("escaped")
            escaped = escaped or directory != os.getcwd()
        except OSError:
            pass
    return 2 * n if escaped else -1
