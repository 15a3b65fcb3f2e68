"""The ``quanta`` command: a thin layer that parses, calls the library, prints and exits.

Subcommands are imported lazily so that ``quanta --help`` and ``quanta --version``
stay fast (no torch import). Bad input (a :class:`~quanta.errors.QuantaError` or a
usage error) is printed as one line on stderr with exit status 2; real bugs keep
their traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import sys

import click

from quanta import __version__
from quanta.errors import QuantaError

# name -> (module:attribute, one-line help). Each command group lives in its own module.
COMMANDS: dict[str, tuple[str, str]] = {
    "theory": ("quanta.cli.theory:theory", "The quantization model: predicted exponents, simulated scaling curves."),
    "parity": ("quanta.cli.parity:parity", "Multitask sparse parity: train sweeps (run) and analyze them."),
    "lm": ("quanta.cli.lm:lm", "Language-model suites: train-suite, per-token losses, analyze."),
    "qdg": ("quanta.cli.qdg:qdg", "Quanta discovery from gradients, on an LM or a parity run."),
    "parts": ("quanta.cli.parts:parts", "Parts (SAE features, ...) under one contract: use counts and their Zipf law."),
    "falsify": ("quanta.cli.falsify:falsify", "The closing test: scaling exponent against the Zipf law of discovered quanta."),
    "formation": ("quanta.cli.formation:formation", "Watching parts form: learned together, and in order of frequency?"),
    "calibrate": ("quanta.cli.calibrate:calibrate", "Error rates of the closing test on planted worlds (true and false)."),
    "report": ("quanta.cli.report:report", "One self-contained HTML report from run directories."),
    "demo": ("quanta.cli.demo:demo", "The whole chain offline on small defaults, ending in a report."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def _available(self):
        out = {}
        for name, (target, _) in self.lazy.items():
            module = target.split(":")[0]
            if importlib.util.find_spec(module) is not None:
                out[name] = target
        return out

    def get_command(self, ctx, name):
        if name in self.commands:
            return self.commands[name]
        target = self._available().get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy:
                rows.append((name, self.lazy[name][1]))
            else:
                cmd = self.commands[name]
                rows.append((name, cmd.get_short_help_str(limit=90)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="quanta", message="%(prog)s %(version)s")
def cli():
    """quanta: the quantization model of neural scaling, put to work and to the test.

    Every command writes a run directory (--out DIR) holding manifest.json,
    summary.json, tidy parquet tables and PNG figures.
    """


def _fields(target: str) -> set[str]:
    """The field names of the config dataclass ``"module:Class"``."""
    module, attr = target.split(":")
    return {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), attr))}


@functools.lru_cache(maxsize=1)
def _flags() -> tuple[dict[str, str], set[str], set[str]]:
    """``{parameter: --flag}`` over every command (names that map to one flag only), which are switches, and the
    config fields that commands take as ``--set KEY=VALUE``."""
    from quanta.cli.common import SetOption

    ctx = click.Context(cli)
    seen: dict[str, set[str]] = {}
    switches: set[str] = set()
    configs: set[str] = set()

    def walk(group):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            for p in cmd.params:
                if isinstance(p, SetOption):
                    configs.add(p.config)
                elif isinstance(p, click.Option) and p.name and p.opts[0].startswith("--"):
                    seen.setdefault(p.name, set()).add(p.opts[0])
                    if p.is_flag and not p.secondary_opts:
                        switches.add(p.name)
            if isinstance(cmd, click.Group):
                walk(cmd)

    walk(cli)
    settings: set[str] = set()
    for target in sorted(configs):
        settings |= _fields(target)
    return {name: next(iter(f)) for name, f in seen.items() if len(f) == 1}, switches, settings


def _invoked(argv) -> click.Command | None:
    """The (sub)command an argument list runs, or None (``quanta`` itself)."""
    ctx = click.Context(cli)
    cmd, found = cli, None
    for tok in argv or ():
        if not isinstance(cmd, click.Group):
            break
        if tok.startswith("-"):
            continue
        try:
            sub = cmd.get_command(ctx, tok)
        except Exception:  # noqa: BLE001 - a command module that fails to import: no mapping from it
            sub = None
        if sub is not None:
            cmd = found = sub
    return found


def cli_message(text: str, argv: list[str] | None = None) -> str:
    """A library error message in the CLI's words: ``name=VALUE`` of a parameter that is an option becomes
    ``--flag VALUE`` (``name=True`` of a switch: ``--flag``), e.g. ``pass n_tokens=1000`` -> ``pass --n-tokens 1000``;
    of a config field that a command takes as ``--set KEY=VALUE`` (and no option), ``--set name=VALUE``.

    With ``argv``, the options and ``--set`` fields of the command it runs come first (``batch_size=`` is
    ``--set batch_size=`` of ``parity run`` but ``--batch-size`` of ``qdg``); other names are mapped by every
    command's options. Library messages name the parameters of the call (``out=``, ``force=True``); the CLI
    prints its flags.
    """
    import re

    from quanta.cli.common import SetOption

    cmd = _invoked(argv) if argv is not None else None
    own: dict[str, click.Option] = {}
    own_settings: set[str] = set()
    if cmd is not None:
        for p in cmd.params:
            if isinstance(p, SetOption):
                with contextlib.suppress(Exception):
                    own_settings |= _fields(p.config)
            elif isinstance(p, click.Option) and p.name and p.opts[0].startswith("--"):
                own[p.name] = p

    def swap(m):
        name, value = m.group(1), m.group(2)
        if name in own:
            p = own[name]
            if p.is_flag and not p.secondary_opts:
                return p.opts[0] if value == "True" else m.group(0)
            return f"{p.opts[0]} {value}"
        if name in own_settings:
            return f"--set {name}={value.lower() if value in ('True', 'False', 'None') else value}"
        flags, switches, settings = _flags()
        if name not in flags:
            if name in settings:
                return f"--set {name}={value.lower() if value in ('True', 'False', 'None') else value}"
            return m.group(0)
        if name in switches:
            return flags[name] if value == "True" else m.group(0)
        return f"{flags[name]} {value}"

    return re.sub(r"(?<![\w./-])(?<!--set )([a-z][a-z0-9_]*)=(\S+?)(?=[,;:)]?(?:\s|$))", swap, text)


def _stop_on_sigterm() -> tuple[list, object]:
    """SIGTERM (``kill``, ``timeout``, a batch system's limit) stops a command as Ctrl-C does, so its run directory
    records the end and the same command can run again (it was left 'running' and refused). Returns a list that
    holds True once the signal came, and the handler it replaced (restored when the command returns)."""
    import os
    import signal

    came = []
    if "TORCHELASTIC_RUN_ID" in os.environ:  # a torchrun worker: its launcher stops it, also inside collectives
        return came, None

    def stop(signum, frame):
        came.append(True)
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        return came, signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding application): leave its handler alone
        return came, None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import signal

    terminated, prior = _stop_on_sigterm()
    try:
        _main(argv, terminated)
    finally:
        if prior is not None:
            signal.signal(signal.SIGTERM, prior)


def _main(argv, terminated: list) -> None:
    try:
        code = cli.main(args=argv, prog_name="quanta", standalone_mode=False)
    except QuantaError as exc:
        click.echo(f"error: {cli_message(exc.one_line(), sys.argv[1:] if argv is None else argv)}", err=True)
        sys.exit(2)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(0)
    except click.exceptions.NoSuchOption as exc:
        hint = f" (did you mean {', '.join(exc.possibilities)}?)" if exc.possibilities else ""
        cmd = exc.ctx.command_path if exc.ctx else "quanta"
        click.echo(f"error: no such option {exc.option_name}{hint}; see `{cmd} --help`", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        cmd = exc.ctx.command_path if getattr(exc, "ctx", None) else "quanta"
        msg = " ".join(exc.format_message().split()).rstrip(".")
        click.echo(f"error: {msg}; see `{cmd} --help`", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("terminated" if terminated else "aborted", err=True)
        sys.exit(143 if terminated else 130)
    sys.exit(code if isinstance(code, int) else 0)
