"""A fault-injecting stand-in for UniProt and PubChem on 127.0.0.1 (fixtures in conftest.py).

Every page it serves is built from the real records in ../shared/data, in the services'
response shapes:
- UniProt search pages (json / txt / xml) from the real JSON entries, flat-file entries
  and XML entries, paged with a `Link: <...>; rel="next"` cursor;
- PubChem PUG-View annotation pages *built from* the real `Record Description` sections
  of the PUG-View records and from ChEBI-20 rows (the annotation pages themselves are
  not in the data; see ../shared/data/README.md), hence the fixture name
  `annotation_pages_from_real_records`;
- PUG REST property tables from the real SMILES / InChIKey / titles of the PUG-View
  records, the SDF file and ChEBI-20; and a CID-SMILES.gz bulk file with its .md5.

Faults are queued per URL substring or suffix (`match$`) (`server.faults.once(match, "503", "reset")`) or made
permanent (`server.faults.always(match, "503")`). Every hit is logged with its arrival
time (time.monotonic) so tests can check retries, waits and rate limits from the
server's side.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from etl.sources.settings import PullSettings, RateLimit

RELEASE = "2024_05"
CHEBI_ROWS = 40
ANNOTATIONS_PER_PAGE = 8
FAULTS = ("429", "500", "502", "503", "504", "404", "reset", "truncate", "gzip_truncated", "slow", "corrupt")

# -- the data ------------------------------------------------------------------


@dataclass
class UniProtEntries:
    """Per format, (reviewed, entry) pairs in file order."""

    json: list[tuple[bool, dict]]
    txt: list[tuple[bool, str]]
    xml: list[tuple[bool, str]]

    def select(self, fmt: str, query: str) -> list:
        if query not in ("reviewed:true", "*"):
            raise ValueError(f"the test server knows only 'reviewed:true' and '*', not {query!r}")
        return [entry for reviewed, entry in getattr(self, fmt) if reviewed or query == "*"]


def uniprot_entries(data: Path) -> UniProtEntries:
    json_entries: list[tuple[bool, dict]] = []
    for path in sorted((data / "uniprot" / "json").glob("*.json")):
        document = json.loads(path.read_text())
        for entry in document.get("results", [document]):
            json_entries.append((entry["entryType"].startswith("UniProtKB reviewed"), entry))
    flat = (data / "uniprot" / "uniprotkb_sample.dat").read_text()
    txt_entries = [(" Reviewed;" in chunk.split("\n", 1)[0], chunk + "//\n") for chunk in flat.split("//\n") if chunk.strip()]
    xml_entries: list[tuple[bool, str]] = []
    for path in sorted((data / "uniprot" / "xml").glob("*.xml")):
        for match in re.finditer(r"<entry\b.*?</entry>", path.read_text(), re.DOTALL):
            xml_entries.append(('dataset="Swiss-Prot"' in match.group(0)[:200], match.group(0)))
    return UniProtEntries(json_entries, txt_entries, xml_entries)


def _sections(sections: list[dict]) -> Iterator[dict]:
    for section in sections:
        yield section
        yield from _sections(section.get("Section", []))


def _pug_view_records(data: Path) -> list[dict]:
    paths = sorted((data / "pubchem" / "pug_view").glob("*.json")) + [data / "pubchem" / "cid4" / "COMPOUND_CID_4.json"]
    records = []
    for path in paths:
        document = json.loads(path.read_text())
        records.append(document.get("Record", document))
    return records


def _annotations_from_record(record: dict) -> list[dict]:
    """The Record Description items of one PUG-View record, as annotation-page entries."""
    references = {ref["ReferenceNumber"]: ref for ref in record.get("Reference", [])}
    annotations = []
    for section in _sections(record["Section"]):
        if section.get("TOCHeading") != "Record Description":
            continue
        for info in section["Information"]:
            ref = references.get(info.get("ReferenceNumber"), {})
            annotation = {key: ref[key] for key in ("SourceName", "SourceID", "Name", "URL", "LicenseNote", "LicenseURL", "ANID") if key in ref}
            datum = {"Value": info["Value"]}
            if "Description" in info:
                datum["Description"] = info["Description"]
            annotation["Data"] = [datum]
            annotation["LinkedRecords"] = {"CID": [record["RecordNumber"]]}
            annotations.append(annotation)
    return annotations


def _chebi_rows(data: Path) -> list[dict]:
    with open(data / "pubchem" / "chebi20_test.tsv", newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t", quoting=csv.QUOTE_NONE))


def _sdf_properties(data: Path) -> dict[int, dict]:
    properties = {}
    for record in (data / "pubchem" / "sdf" / "rcpi_tyrphostin.sdf").read_text().split("$$$$"):
        tags = dict(re.findall(r"> *<(\w+)>\n(.*)\n", record))
        if "PUBCHEM_COMPOUND_CID" in tags:
            smiles = tags.get("PUBCHEM_OPENEYE_ISO_SMILES") or tags.get("PUBCHEM_SMILES")
            properties[int(tags["PUBCHEM_COMPOUND_CID"])] = {"SMILES": smiles, "InChIKey": tags.get("PUBCHEM_IUPAC_INCHIKEY")}
    return properties


def _pug_view_properties(record: dict) -> dict:
    found = {s["TOCHeading"]: s["Information"][0]["Value"]["StringWithMarkup"][0]["String"] for s in _sections(record["Section"]) if s.get("TOCHeading") in ("SMILES", "Isomeric SMILES", "InChIKey")}
    return {"SMILES": found.get("SMILES") or found.get("Isomeric SMILES"), "InChIKey": found.get("InChIKey"), "Title": record["RecordTitle"]}


@dataclass
class PubChemData:
    annotations: list[dict]
    properties: dict[int, dict]

    def annotation_page(self, page: int, per_page: int) -> dict:
        total = max(1, -(-len(self.annotations) // per_page))
        chunk = self.annotations[(page - 1) * per_page : page * per_page]
        return {"Annotations": {"Annotation": chunk, "Page": page, "TotalPages": total}}

    def linked_cids(self, pages: int | None = None, per_page: int = ANNOTATIONS_PER_PAGE) -> list[int]:
        chosen = self.annotations if pages is None else self.annotations[: pages * per_page]
        return sorted({cid for annotation in chosen for cid in annotation["LinkedRecords"]["CID"]})

    def bulk_file(self) -> bytes:
        lines = "".join(f"{cid}\t{row['SMILES']}\n" for cid, row in sorted(self.properties.items()) if row.get("SMILES"))
        return gzip.compress(lines.encode(), mtime=0)


def pubchem_data(data: Path) -> PubChemData:
    records = _pug_view_records(data)
    chebi = _chebi_rows(data)[:CHEBI_ROWS]
    annotations = [annotation for record in records for annotation in _annotations_from_record(record)]
    annotations += [
        {"SourceName": "ChEBI-20 (MolT5 test split)", "Data": [{"Value": {"StringWithMarkup": [{"String": row["description"]}]}}], "LinkedRecords": {"CID": [int(row["CID"])]}}
        for row in chebi
    ]
    properties = _sdf_properties(data)
    properties.update({int(row["CID"]): {"SMILES": row["SMILES"]} for row in _chebi_rows(data)})
    for row in json.loads((data / "pubchem" / "pug_rest" / "aspirin_properties.json").read_text())["PropertyTable"]["Properties"]:
        properties[row["CID"]] = {"SMILES": row["SMILES"], "InChIKey": row["InChIKey"]}
    properties.update({record["RecordNumber"]: _pug_view_properties(record) for record in records})
    return PubChemData(annotations, properties)


@dataclass
class SourceData:
    uniprot: UniProtEntries
    pubchem: PubChemData


# -- faults and the request log -------------------------------------------------


class FaultPlan:
    def __init__(self) -> None:
        self._queued: list[tuple[str, deque[str]]] = []
        self._always: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def once(self, match: str, *faults: str) -> None:
        """The next hits of a URL containing `match` get these faults, one per hit."""
        assert all(fault in FAULTS for fault in faults), faults
        with self._lock:
            self._queued.append((match, deque(faults)))

    def always(self, match: str, fault: str) -> None:
        assert fault in FAULTS, fault
        with self._lock:
            self._always.append((match, fault))

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
            self._always.clear()

    def take(self, url: str) -> str | None:
        with self._lock:
            for match, fault in self._always:
                if _matches(match, url):
                    return fault
            for match, faults in self._queued:
                if _matches(match, url) and faults:
                    return faults.popleft()
        return None


def _matches(match: str, url: str) -> bool:
    """A substring of the URL, or its end when `match` ends with '$'."""
    return url.endswith(match[:-1]) if match.endswith("$") else match in url


@dataclass
class Hit:
    time: float
    method: str
    url: str
    headers: dict[str, str]
    fault: str | None


@dataclass
class ServerOptions:
    release: str = RELEASE
    total_results_offset: int = 0
    annotations_per_page: int = ANNOTATIONS_PER_PAGE
    old_smiles_names: bool = False
    page_delay_s: float = 0.0
    slow_s: float = 1.2
    last_modified: str | None = "Tue, 14 May 2024 00:00:00 GMT"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    compressible: bool = True


class LoopbackServer(ThreadingHTTPServer):
    """A test server on 127.0.0.1 (a free port) that records every hit and injects the faults planned."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.faults = FaultPlan()
        self.options = ServerOptions()
        self.hits: list[Hit] = []
        self.hits_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hits_for(self, match: str) -> list[Hit]:
        with self.hits_lock:
            return [hit for hit in self.hits if match in hit.url]


class SourceServer(LoopbackServer):
    def __init__(self, data: SourceData) -> None:
        super().__init__(_Handler)
        self.data = data

    # -- routes --

    def route(self, method: str, url: str, form: bytes) -> Reply:
        parts = urlsplit(url)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if method == "GET" and parts.path == "/uniprotkb/search":
            return self._uniprot(params)
        if method == "GET" and parts.path == "/rest/pug_view/annotations/heading/JSON":
            return self._annotations(params)
        if method == "POST" and parts.path == "/rest/pug/compound/cid/property/SMILES,InChIKey,Title/JSON":
            return self._properties(parse_qs(form.decode())["cid"][0])
        if method == "GET" and parts.path == "/pubchem/Compound/Extras/CID-SMILES.gz":
            return Reply(200, self.data.pubchem.bulk_file(), {"Content-Type": "application/x-gzip"}, compressible=False)
        if method == "GET" and parts.path == "/pubchem/Compound/Extras/CID-SMILES.gz.md5":
            digest = hashlib.md5(self.data.pubchem.bulk_file()).hexdigest()
            return Reply(200, f"{digest}  CID-SMILES.gz\n".encode(), {"Content-Type": "text/plain"})
        return Reply(404, b'{"Fault": {"Code": "PUGREST.BadRequest", "Message": "no such route"}}')

    def _uniprot(self, params: dict[str, str]) -> Reply:
        fmt, size = params.get("format", "json"), int(params["size"])
        try:
            entries = self.data.uniprot.select(fmt, params["query"])
        except ValueError as error:
            return Reply(400, json.dumps({"messages": [str(error)]}).encode())
        start = int(params.get("cursor", "0"))
        chunk = entries[start : start + size]
        time.sleep(self.options.page_delay_s)
        if fmt == "json":
            body = json.dumps({"results": chunk}).encode()
        elif fmt == "txt":
            body = "".join(chunk).encode()
        else:
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<uniprot xmlns="http://uniprot.org/uniprot">\n' + "\n".join(chunk) + "\n</uniprot>\n").encode()
        headers = {"X-UniProt-Release": self.options.release, "X-Total-Results": str(len(entries) + self.options.total_results_offset), "Content-Type": "application/json" if fmt == "json" else "text/plain"}
        if start + size < len(entries):
            query = urlencode({**params, "cursor": str(start + size)}, quote_via=quote)
            headers["Link"] = f'<{self.url}/uniprotkb/search?{query}>; rel="next"'
        return Reply(200, body, headers)

    def _annotations(self, params: dict[str, str]) -> Reply:
        if params.get("heading") != "Record Description" or params.get("heading_type") != "Compound":
            return Reply(400, b'{"Fault": {"Code": "PUGVIEW.BadRequest", "Message": "bad heading"}}')
        document = self.data.pubchem.annotation_page(int(params["page"]), self.options.annotations_per_page)
        headers = {"Content-Type": "application/json"}
        if self.options.last_modified:
            headers["Last-Modified"] = self.options.last_modified
        return Reply(200, json.dumps(document).encode(), headers)

    def _properties(self, cid_list: str) -> Reply:
        rows = []
        for cid in (int(value) for value in cid_list.split(",")):
            if cid in self.data.pubchem.properties:
                row = {"CID": cid, **{k: v for k, v in self.data.pubchem.properties[cid].items() if v}}
                if self.options.old_smiles_names and "SMILES" in row:
                    row["IsomericSMILES"] = row.pop("SMILES")
                rows.append(row)
        if not rows:
            return Reply(404, b'{"Fault": {"Code": "PUGREST.NotFound", "Message": "No CID found"}}')
        return Reply(200, json.dumps({"PropertyTable": {"Properties": rows}}).encode(), {"Content-Type": "application/json"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SourceServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET", b"")

    def do_POST(self) -> None:
        self._serve("POST", self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _serve(self, method: str, form: bytes) -> None:
        fault = self.server.faults.take(self.path)
        with self.server.hits_lock:
            self.server.hits.append(Hit(time.monotonic(), method, self.path, dict(self.headers), fault))
        try:
            if fault == "slow":
                time.sleep(self.server.options.slow_s)
            if fault in ("429", "500", "502", "503", "504", "404"):
                headers = {"Retry-After": "1"} if fault == "429" else {}
                self._send(Reply(int(fault), b'{"Fault": {"Code": "ServerBusy", "Message": "injected"}}', headers))
                return
            reply = self.server.route(method, self.path, form)
            self._send_with_fault(reply, fault)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _encoded(self, reply: Reply) -> tuple[bytes, dict[str, str]]:
        headers = dict(reply.headers)
        if reply.compressible and "gzip" in self.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return gzip.compress(reply.body, mtime=0), headers
        return reply.body, headers

    def _send_with_fault(self, reply: Reply, fault: str | None) -> None:
        body, headers = self._encoded(reply)
        if fault == "corrupt":
            middle = len(body) // 2
            body = body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]
        if fault == "gzip_truncated":
            body, headers = gzip.compress(reply.body, mtime=0), {**reply.headers, "Content-Encoding": "gzip"}
            body = body[: len(body) // 2]
        if fault in ("reset", "truncate"):
            self._send_head(reply.status, headers, len(body))
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if fault == "reset":
                # SO_LINGER 0: close() sends RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self._send_head(reply.status, headers, len(body))
        self.wfile.write(body)

    def _send(self, reply: Reply) -> None:
        self._send_with_fault(reply, None)

    def _send_head(self, status: int, headers: dict[str, str], length: int) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()


# -- client settings and the network guard ---------------------------------------

FAST = [RateLimit(requests=1000, per_seconds=1)]


def fast_settings(**overrides: object) -> PullSettings:
    """Tiny backoffs and timeouts so that faults cost milliseconds, not minutes."""
    values: dict[str, object] = dict(
        contact="tests@lifeqa.invalid", attempts=4, backoff_base_s=0.01, backoff_cap_s=0.05,
        connect_timeout_s=2.0, read_timeout_s=0.5, uniprot_limits=FAST, pubchem_limits=FAST,
    )
    values.update(overrides)
    return PullSettings(**values)
