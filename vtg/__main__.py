"""``python -m vtg ...``: the same command line as ``vtg`` (useful where the script is not on PATH,
or to pick the interpreter explicitly)."""

from vtg.cli.main import entry

if __name__ == "__main__":
    entry()
