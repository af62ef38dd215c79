"""Reading an uploaded file as rows of text: CSV (any common encoding and delimiter), XLSX, vCard.

Everything the importer needs to know about a file is found once, up front, by ``analyse``: the format, the
encoding (the whole file is decoded once, so a bad byte half-way is refused before anything is imported), the
delimiter, the header and the number of data rows. ``iter_rows`` then yields ``(row_number, values)`` from any
starting row, which is how a resumed job skips what it already committed.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed

BLOCK = 4 * 1024 * 1024
csv.field_size_limit(10 * 1024 * 1024)

# vCard properties become these columns (mapped like any other header).
VCARD_HEADERS = ["FN", "Family Name", "Given Name", "TEL", "EMAIL", "ORG", "TITLE", "Province", "City", "Street",
                 "NOTE", "CATEGORIES"]  # fmt: skip


class ImportRefused(ValidationFailed):
    """The file cannot be imported at all (encoding, format, size, a missing column): nothing was imported."""

    code = "import_refused"


@dataclass
class FileInfo:
    file_format: str  # csv | xlsx | vcard
    encoding: str = ""
    delimiter: str = ""
    headers: list[str] = field(default_factory=list)
    total_rows: int = 0
    sha256: str = ""
    size: int = 0


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    return h.hexdigest()


def _detect_format(path: Path, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return "xlsx"
    suffix = path.suffix.lower()
    if suffix in {".xls", ".xlsx", ".xlsm"}:
        raise ImportRefused(
            _("The file is not a readable Excel workbook. Save it as .xlsx or CSV and try again."),
            fields={"file": _("not a readable .xlsx workbook")},
        )
    if suffix in {".vcf", ".vcard"} or head.lstrip(codecs.BOM_UTF8).lstrip()[:11].upper() == b"BEGIN:VCARD":
        return "vcard"
    return "csv"


def _decodes(path: Path, encoding: str) -> bool:
    """True when the whole file decodes strictly in ``encoding`` and holds no NUL (binary) character."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        with path.open("rb") as fh:
            while block := fh.read(BLOCK):
                if "\x00" in decoder.decode(block):
                    return False
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else GB18030 (Chinese Excel's
    "CSV", a superset of GBK and GB2312). Refuses a file that none of these decodes."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        if _decodes(path, enc):
            return enc
    raise ImportRefused(
        _("The file's text encoding cannot be read. Save it as CSV UTF-8 (or GBK/GB18030) and try again."),
        fields={"file": _("unreadable text encoding")},
    )


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell(value: object) -> str:
    """A spreadsheet cell as text: 13800138000.0 -> "13800138000", dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[list[str]]:
    with path.open(encoding=encoding, newline="") as fh:
        yield from csv.reader(fh, delimiter=delimiter)


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheet = wb.get_sheet_by_index(0)
        rows = sheet.iter_rows()
    except Exception as exc:  # calamine raises its own error types for damaged workbooks
        raise ImportRefused(
            _("The Excel workbook cannot be read: %(why)s") % {"why": str(exc)[:200]},
            fields={"file": _("damaged workbook")},
        ) from exc
    for row in rows:
        yield [_cell(v) for v in row]


def _vcard_rows(path: Path, encoding: str) -> Iterator[list[str]]:
    import vobject

    text = path.read_text(encoding=encoding)
    yield list(VCARD_HEADERS)
    try:
        for card in vobject.readComponents(text, ignoreUnreadable=True):
            yield _vcard_values(card)
    except Exception as exc:  # vobject's ParseError and friends
        raise ImportRefused(
            _("The vCard file cannot be read: %(why)s") % {"why": str(exc)[:200]},
            fields={"file": _("damaged vCard")},
        ) from exc


def _vcard_values(card) -> list[str]:  # type: ignore[no-untyped-def]
    def all_of(name: str) -> list:
        return card.contents.get(name.lower(), [])

    def text(name: str) -> str:
        items = all_of(name)
        return str(items[0].value).strip() if items else ""

    family = given = ""
    if all_of("n"):
        n = all_of("n")[0].value
        family, given = str(getattr(n, "family", "") or ""), str(getattr(n, "given", "") or "")
    org = ""
    if all_of("org"):
        val = all_of("org")[0].value
        org = " ".join(val) if isinstance(val, list) else str(val)
    province = city = street = ""
    if all_of("adr"):
        a = all_of("adr")[0].value
        province, city, street = str(a.region or ""), str(a.city or ""), str(a.street or "")
    cats: list[str] = []
    for c in all_of("categories"):
        cats.extend(c.value if isinstance(c.value, list) else [str(c.value)])
    return [
        text("fn"),
        family,
        given,
        ";".join(str(t.value).strip() for t in all_of("tel")),
        ";".join(str(e.value).strip() for e in all_of("email")),
        org.strip(),
        text("title"),
        province,
        city,
        street,
        text("note"),
        ";".join(cats),
    ]


def _raw_rows(path: Path, info: FileInfo) -> Iterator[list[str]]:
    if info.file_format == "xlsx":
        return _xlsx_rows(path)
    if info.file_format == "vcard":
        return _vcard_rows(path, info.encoding)
    return _csv_rows(path, info.encoding, info.delimiter)


def analyse(path: Path, *, max_bytes: int) -> FileInfo:
    """Format, encoding, delimiter, header and row count of the file. Raises ImportRefused."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ImportRefused(
            _("The file is %(size)s bytes; the limit is %(limit)s bytes (GUANXI_IMPORT_MAX_BYTES).")
            % {"size": f"{size:,}", "limit": f"{max_bytes:,}"},
            fields={"file": _("file too large")},
        )
    if size == 0:
        raise ImportRefused(_("The file is empty."), fields={"file": _("empty file")})
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    info = FileInfo(file_format=_detect_format(path, head), size=size, sha256=file_sha256(path))
    if info.file_format in {"csv", "vcard"}:
        info.encoding = detect_encoding(path)
    if info.file_format == "csv":
        first = head.decode(info.encoding, errors="ignore").splitlines()[0] if head else ""
        info.delimiter = _sniff_delimiter(first)
    rows = _raw_rows(path, info)
    header = next(rows, None)
    if not header or not any(h.strip() for h in header):
        raise ImportRefused(_("The file has no header row."), fields={"file": _("no header row")})
    info.headers = [h.strip().lstrip("\ufeff") for h in header]
    info.total_rows = sum(1 for _row in rows)
    return info


def iter_rows(path: Path, info: FileInfo, *, start: int = 0) -> Iterator[tuple[int, list[str]]]:
    """Data rows from index ``start`` (0 = the first row after the header) as (row number, values);
    the row number is what a spreadsheet shows (the header is row 1)."""
    rows = _raw_rows(path, info)
    next(rows, None)
    for index, values in enumerate(rows):
        if index >= start:
            yield index + 2, values


def read_preview(path: Path, info: FileInfo, limit: int) -> list[tuple[int, list[str]]]:
    out = []
    for item in iter_rows(path, info):
        out.append(item)
        if len(out) >= limit:
            break
    return out


def write_csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return codecs.BOM_UTF8 + buf.getvalue().encode("utf-8")
