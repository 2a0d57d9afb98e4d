"""The generated TypeScript compiles with ``tsc --noEmit`` (strict; TypeScript pinned in
tests/codegen_ts, installed by ``make node-deps``), and a wrong use of it does not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dictamesh.codegen import typescript, write_files
from dictamesh.core.settings import DictaMeshSettings

TS_DIR = Path(__file__).resolve().parents[2] / "codegen_ts"
TSC = TS_DIR / "node_modules" / "typescript" / "bin" / "tsc"

USAGE = """\
import type { Entity, EntityType, Invoice, InvoiceItem, Page } from "./gen/index.js";
import { ENTITY_TYPES } from "./gen/index.js";

export function lineTotal(invoice: Entity<"invoice">): number {
  const items: InvoiceItem[] = invoice.attributes.items ?? [];
  return items.reduce((sum, item) => sum + item.quantity * (item.unit_price ?? 0), 0);
}

export function numbers(page: Page<"invoice">): string[] {
  return page.items.map((entity) => entity.attributes.invoice_number);
}

const draft: Invoice = { id: "i-1", invoice_number: "INV-1", customer_id: "c-1", status: null };
export const types: readonly EntityType[] = ENTITY_TYPES;
export const first: string = draft.invoice_number;
"""

WRONG = """\
import type { Invoice } from "./gen/index.js";

export const bad: Invoice = { id: "i-1", invoice_number: 7, customer_id: "c-1" };
"""


def _tsc() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not TSC.exists():
        problem = f"typescript missing in {TS_DIR} (run `make node-deps`)"
    if problem is None:
        assert node is not None
        return node
    if os.environ.get("CI"):
        pytest.fail(problem + " — CI must compile the generated TypeScript")
    pytest.skip(problem)


def _compile(node: str, project: Path, usage: str) -> subprocess.CompletedProcess[str]:
    (project / "usage.ts").write_text(usage)
    (project / "package.json").write_text('{"type": "module"}\n')  # ES modules (NodeNext)
    (project / "tsconfig.json").write_text(
        f'{{"extends": "{TS_DIR / "tsconfig.json"}", "include": ["usage.ts", "gen/*.ts"]}}\n'
    )
    return subprocess.run(
        [node, str(TSC), "--noEmit", "-p", str(project / "tsconfig.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_generated_types_compile_and_type_check(
    settings: DictaMeshSettings, registry: Any, tmp_path: Path
) -> None:
    node = _tsc()
    write_files(tmp_path / "gen", typescript.generate(settings, registry))
    ok = _compile(node, tmp_path, USAGE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = _compile(node, tmp_path, WRONG)
    assert wrong.returncode != 0
    assert "error TS2322" in wrong.stdout  # a number is not a string: the types are real


def test_optional_fields_are_optional_and_nullable(
    settings: DictaMeshSettings, registry: Any
) -> None:
    files = {f.path: f.content for f in typescript.generate(settings, registry)}
    invoice = files["invoice.ts"]
    assert "  invoice_number: string;" in invoice
    assert "  status?: string | null;" in invoice
    assert "  items?: InvoiceItem[] | null;" in invoice
    assert 'import type { InvoiceItem } from "./invoice_item.js";' in invoice
