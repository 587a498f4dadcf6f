"""The README's options table, written from the options table itself (`python -m proxy.docs`).

Each option's default, modes, help and variable are written once, in `proxy.settings`; the
`--help` text and this table are both read from there, and a test keeps the README's copy
equal to what this prints.
"""

from __future__ import annotations

from proxy.settings import MODES, OPTIONS, Option


def option_row(option: Option) -> str:
    """One row of the table: option, modes, default, meaning."""
    name = f"--{option.name}" + (f" {option.metavar}" if option.metavar else "")
    modes = "all" if option.modes == MODES else ", ".join(option.modes)
    default = option.default_text
    shown = f"`{default}`" if default is not None else "none"
    cells = (f"`{name}`", modes, shown, option.help)
    # A `|` inside a cell (`MS|MIN-MAX`) would end it: Markdown tables escape it.
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def options_table() -> str:
    """The Markdown table of every option, as the README shows it."""
    rows = ["| option | modes | default | meaning |", "|---|---|---|---|"]
    rows.extend(option_row(option) for option in OPTIONS)
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(options_table(), end="")
