"""CI: the non-editable install works away from the checkout (packages, their data files, the tables).

Run from a directory outside the checkout after ``pip install .``: every package must come from
site-packages, and every search must load its default table from there.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

CHECKOUT = Path(sys.argv[1]).resolve()  # the checkout the wheel was built from (the venv may sit inside it)
for name in ("core", "belle_mc", "selections", "processors", "execution", "sensitivity"):
    module = importlib.import_module(name)
    where = Path(module.__file__).resolve()
    if "site-packages" not in where.parts:
        sys.exit(f"check_installed: {name} was imported from the checkout ({where}), not from the installed wheel")

from processors.searches import SEARCHES  # noqa: E402

for search in SEARCHES.values():
    table = search.load_table(None)
    if not search.table.default.resolve().is_relative_to(Path(importlib.import_module("selections").__file__).parent):
        sys.exit(f"check_installed: the {search.name} table {search.table.default} is not in the installed package")
    print(f"{search.name}: {search.table.default.name} from the installed package, {len(search.make_processor(626.0, table).masses_mev)} hypotheses")
print("check_installed: the installed package is complete")
