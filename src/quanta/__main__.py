"""``python -m quanta ...`` (and ``torchrun -m quanta ...``) runs the CLI."""

from quanta.cli import main

if __name__ == "__main__":
    main()
