"""Export the whole catalog as JSON or CSV (schema in docs/catalog-schema.md)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import msgspec

from amisys.catalog.catalog import Catalog
from amisys.catalog.model import Flow

SCHEMA = "amisys.catalog/1"
CSV_COLUMNS = (
    "flow_id",
    "processes",
    "table",
    "row",
    "interface",
    "from",
    "to",
    "sent",
    "returned",
    "c",
    "i",
    "a",
    "note",
    "runtime_interface",
    "runtime_from",
    "runtime_to",
    "resolutions",
)


def _builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def flow_record(catalog: Catalog, flow: Flow) -> dict[str, Any]:
    record = _builtins(flow)
    hop = catalog.runtime_hop(flow)
    record["runtime"] = {"interface": hop.interface, "from": hop.from_, "to": hop.to}
    record["protection"] = {d.lower(): catalog.protection_level(flow, d).value for d in ("C", "I", "A")}
    record["resolutions"] = [r.id for r in catalog.resolutions_of(flow)]
    return record


def as_dict(catalog: Catalog) -> dict[str, Any]:
    interfaces = []
    for iface in catalog.interfaces.values():
        record = _builtins(iface)
        hw = catalog.high_water(iface.id)
        record["high_water"] = {d.lower(): lvl.value for d, lvl in hw.items()} if hw else None
        record["flows"] = [f.id for f in catalog.flows_on(iface.id)]
        interfaces.append(record)
    processes = []
    for proc in catalog.processes.values():
        record = _builtins(proc)
        record["section_title"] = catalog.sections[proc.section].title
        record["flows"] = [flow_record(catalog, f) for f in catalog.flows_of(proc.id)]
        record["bridges"] = _builtins(catalog.bridges(proc.table))
        processes.append(record)
    return {
        "schema": SCHEMA,
        "seed": {"sha256": catalog.seed_sha256},
        "actors": _builtins(list(catalog.actors.values())),
        "interfaces": interfaces,
        "sections": _builtins(list(catalog.sections.values())),
        "processes": processes,
        "dr_subfunctions": _builtins(catalog.dr_subfunctions),
        "subfunctions": _builtins(list(catalog.subfunctions.values())),
        "crosscutting": _builtins(catalog.crosscutting),
        "resolutions": _builtins(catalog.resolutions),
    }


def to_json(catalog: Catalog) -> str:
    return json.dumps(as_dict(catalog), ensure_ascii=False, indent=2)


def to_csv(catalog: Catalog) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for flow in catalog.flows:
        hop = catalog.runtime_hop(flow)
        writer.writerow(
            {
                "flow_id": flow.id,
                "processes": ";".join(p.id for p in catalog.processes_using(flow)),
                "table": flow.table,
                "row": flow.row,
                "interface": flow.interface,
                "from": flow.from_,
                "to": flow.to,
                "sent": flow.sent,
                "returned": flow.returned,
                "c": flow.c.value,
                "i": flow.i.value,
                "a": flow.a.value,
                "note": flow.note or "",
                "runtime_interface": hop.interface,
                "runtime_from": hop.from_,
                "runtime_to": hop.to,
                "resolutions": ";".join(r.id for r in catalog.resolutions_of(flow)),
            }
        )
    return buf.getvalue()
