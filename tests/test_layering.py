"""The layering rules of docs/architecture.md, checked on the source: writes only in services.

An ORM write (create, update, delete, save …) outside a `services.py` would be
a second place where a row changes, with its own idea of the transaction and
of what else must change with it. The check reads the source with `ast`; it
runs no code.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("chargepoints", "transactions", "csms", "accounts", "webhooks")
WRITES = {"create", "bulk_create", "update", "bulk_update", "delete", "save", "update_or_create", "get_or_create"}
# Receivers that are not database rows or querysets: dicts, sets, hashes, forms.
NOT_ORM = {"dict", "set", "hashlib", "digest", "form", "super"}
# Names a queryset goes by when it is handed over (admin actions get `queryset`).
QUERYSETS = {"queryset", "qs"}


def _receiver(node: ast.expr) -> str:
    """The source of what a method is called on, e.g. "Transaction.objects.filter(pk=1)"."""
    return ast.unparse(node)


def orm_writes(path: Path) -> list[str]:
    """ "line: call" for each call that looks like an ORM write in the file at `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES):
            continue
        receiver = _receiver(node.func.value)
        ormish = (
            ".objects" in receiver
            or receiver in QUERYSETS
            or receiver.endswith(")")
            and any(f".{name}(" in receiver for name in ("filter", "exclude", "all", "select_for_update"))
        )
        if node.func.attr in ("save", "delete") and not any(word in receiver for word in NOT_ORM):
            ormish = True
        if ormish:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {receiver}.{node.func.attr}(…)")
    return found


def sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or path.name == "services.py":
                continue
            yield path


def test_the_check_finds_an_orm_write(tmp_path):
    sample = ROOT / "chargepoints" / "_layering_sample.py"
    try:
        sample.write_text(
            "def f(cp, queryset):\n    ChargePoint.objects.filter(pk=1).update(connected=False)\n    cp.save()\n"
            "    queryset.update(note='')\n"
        )
        assert len(orm_writes(sample)) == 3
    finally:
        sample.unlink()


def test_no_orm_write_lives_outside_services():
    writes = [write for path in sources() for write in orm_writes(path)]
    assert writes == [], "ORM writes outside services.py:\n" + "\n".join(writes)
