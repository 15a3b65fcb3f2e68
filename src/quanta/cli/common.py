"""Options shared by several commands, defined once, and the helpers that print results."""

from __future__ import annotations

import json

import click

from quanta.errors import QuantaError


def out_option(required: bool = True):
    return click.option("--out", "out", type=click.Path(file_okay=False), required=required,
                        help="Run directory to write (manifest.json, summary.json, tables, figures).")


force_option = click.option("--force", is_flag=True,
                            help="Replace the run in --out: remove the files it wrote (listed in its manifest) and "
                                 "keep files you added after it ended; a run that was killed is removed whole.")
resume_option = click.option("--resume", is_flag=True, help="Continue an unfinished run in --out.")
seed_option = click.option("--seed", type=int, default=None, help="Random seed (default: the config's).")
device_option = click.option("--device", type=str, default=None,
                             help="cpu, cuda or cuda:N (default: cuda if available, else cpu).")


class SetOption(click.Option):
    """``--set KEY=VALUE``, whose keys are the fields of the dataclass ``config`` (``"module:Class"``), so that
    :func:`quanta.cli.cli_message` can print a library message's ``name=VALUE`` of such a field as ``--set``."""

    def __init__(self, *args, config: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config


def set_option(config: str):
    """The ``--set KEY=VALUE`` option of a command whose keys are the fields of ``config`` (``"module:Class"``)."""
    return click.option("--set", "overrides", cls=SetOption, config=config, multiple=True, metavar="KEY=VALUE",
                        help="Override a config field; repeatable. Values are parsed as JSON when they can be.")


def parse_overrides(pairs) -> dict:
    """Turn ``("a=1", "b=[1,2]", "c=x")`` into ``{"a": 1, "b": [1, 2], "c": "x"}``."""
    out = {}
    for item in pairs or ():
        if "=" not in item:
            raise QuantaError(f"--set {item!r} is not KEY=VALUE", "write e.g. --set steps=1000")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise QuantaError(f"--set {item!r} has an empty key", "write e.g. --set steps=1000")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            low = raw.strip().lower()
            value = {"true": True, "false": False, "none": None, "null": None}.get(low, raw)
        out[key] = value
    return out


def echo_summary(summary: dict, out, keys=None) -> None:
    """Print the headline figures of a finished run, one per line, then where it was written."""
    for key, value in summary.items():
        if keys is not None and key not in keys:
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, tuple)) and all(isinstance(v, float) for v in value):
            value = "[" + ", ".join(f"{v:.4g}" for v in value) + "]"
        elif isinstance(value, (dict, list)):
            continue
        click.echo(f"{key}: {value}")
    click.echo(f"wrote {out}")
