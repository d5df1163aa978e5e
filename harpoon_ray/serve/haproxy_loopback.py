"""HAProxy's stats and metrics listeners moved to loopback, for a Ray on loopback.

Ray 2.60's HAProxy template binds its stats page (`listen stats`, `bind *:8404`) and its
Prometheus exporter (`frontend prometheus`, `bind :9101`) on every interface, and only
their ports are settings (RAY_SERVE_HAPROXY_STATS_PORT, _METRICS_PORT). Ray runs the
binary RAY_SERVE_HAPROXY_BINARY_PATH names with `-f <its config>`: the launcher points
that at a two-line script (`write_wrapper`) that runs this file, which writes a copy of
Ray's config with those two sections bound to loopback and execs the real HAProxy on it.
Same PID and otherwise the same arguments, so Ray's reloads (`-sf`, `-x`) and its admin
socket work unchanged; the API frontend stays as Ray rendered it (http_options.host).

The script runs this file by path (`python -I haproxy_loopback.py REAL HOST ARGS...`),
not as part of the package: every HAProxy start and reload waits for it, so it imports
only the standard library.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

# Ray's template sections whose listeners nobody off this machine should reach.
SECTIONS = ("listen stats", "frontend prometheus")
# `bind *:8404`, `bind :9101`, `bind 0.0.0.0:N`, `bind [::]:N`, `bind :::N`: any address.
_WILDCARD_BIND = re.compile(r"^(\s+bind\s+)(?:\*|0\.0\.0\.0|\[::\]|::)?:(\d+)\b")
SUFFIX = ".loopback.cfg"


def loopback_binds(config: str, host: str) -> str:
    """`config` with the wildcard `bind` lines of SECTIONS bound to `host` instead."""
    address = f"[{host}]" if ":" in host else host
    out, section = [], ""
    for line in config.splitlines(keepends=True):
        if line.strip() and not line[0].isspace():
            section = " ".join(line.split())
        if section in SECTIONS:
            line = _WILDCARD_BIND.sub(rf"\g<1>{address}:\g<2>", line)
        out.append(line)
    return "".join(out)


def rewrite_args(args: list[str], host: str) -> list[str]:
    """HAProxy's arguments with the config after `-f` replaced by its loopback copy,
    written next to it."""
    args = list(args)
    for i, arg in enumerate(args[:-1]):
        if arg == "-f":
            source = Path(args[i + 1])
            copy = source.with_name(source.name + SUFFIX)
            copy.write_text(loopback_binds(source.read_text(), host))
            args[i + 1] = str(copy)
    return args


def write_wrapper(directory: Path, real_binary: str, host: str = "127.0.0.1") -> Path:
    """An executable `haproxy` in `directory` for RAY_SERVE_HAPROXY_BINARY_PATH."""
    command = [sys.executable, "-I", str(Path(__file__).resolve()), real_binary, host]
    script = directory / "haproxy"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(command)} "$@"\n')
    script.chmod(0o755)
    return script


def main(argv: list[str]) -> None:
    """`REAL HOST ARGS...`: exec the real HAProxy with its config on loopback.
    `--write DIR`: write the wrapper for the HAProxy Ray would run, print its path (for
    `serve run`: `RAY_SERVE_HAPROXY_BINARY_PATH=$(python .../haproxy_loopback.py --write
    DIR)`)."""
    if len(argv) == 2 and argv[0] == "--write":
        from ray.serve._private.haproxy import _resolve_haproxy_binary

        print(write_wrapper(Path(argv[1]).resolve(), _resolve_haproxy_binary()))
        return
    if len(argv) < 2:
        sys.exit("usage: haproxy_loopback.py (--write DIR | REAL_HAPROXY HOST [ARGS...])")
    real, host, args = argv[0], argv[1], argv[2:]
    os.execv(real, [real, *rewrite_args(args, host)])


if __name__ == "__main__":
    main(sys.argv[1:])
