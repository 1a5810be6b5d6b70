"""Text data files before loading: UTF-8 checked (one line naming the file, line and byte offset when not), a
BOM dropped, another ``encoding`` converted. Every command that reads a jsonl / json / csv / tsv file uses it, so
a BOM and CRLF line ends read the same everywhere."""

from __future__ import annotations

from pathlib import Path

from ftcore.errors import FtcoreError

#: text files are checked (and, with an ``encoding`` or a BOM, converted to plain UTF-8) before loading
TEXT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def check_text_file(path: Path, encoding: str | None = None, label: str | None = None) -> Path:
    """The file to load for a text data file: ``path`` itself when it is plain UTF-8; a UTF-8 copy (in a
    temporary folder) when it starts with a BOM or ``encoding`` names another encoding. A file that cannot be
    decoded is one line naming the file, the line and byte offset, and what to do."""
    import codecs
    import tempfile

    name = label or str(path)
    enc = (encoding or "utf-8").lower().replace("_", "-")
    try:
        codecs.lookup(enc)
    except LookupError:
        raise FtcoreError(f"data: {name}: unknown encoding {encoding!r} (use a Python codec name such as "
                          "'utf-8', 'gbk', 'utf-16', 'latin-1')") from None
    utf8 = codecs.lookup(enc).name == "utf-8"
    with open(path, "rb") as f:
        head = f.read(4)
    bom = head.startswith(codecs.BOM_UTF8)
    if utf8 and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FtcoreError(f"data: {name}: not UTF-8 (it starts with a UTF-16 byte-order mark); set encoding = "
                          '"utf-16" in its dataset entry, or convert the file to UTF-8')
    decoder = codecs.getincrementaldecoder("utf-8-sig" if utf8 else enc)()
    offset, line = 0, 1
    out = None
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    bad = offset + max(exc.start - len(decoder.getstate()[0]), 0)
                    line_no = line + chunk[: max(bad - offset, 0)].count(b"\n")
                    what = "not UTF-8" if utf8 else f"not valid {encoding}"
                    hint = ('set encoding = "gbk" (or the file\'s encoding) in its dataset entry, or convert the '
                            "file to UTF-8" if utf8 else "check the encoding option, or convert the file to UTF-8")
                    raise FtcoreError(f"data: {name}: {what} (line {line_no}, byte offset {bad}); {hint}") from None
                if "\x00" in text and utf8:
                    near = line + text[: text.index("\x00")].count("\n")
                    raise FtcoreError(f"data: {name}: binary data, not UTF-8 text (a NUL byte on line {near}); "
                                      "give a jsonl / json / csv / tsv text file, or convert it")
                if out is None and (bom or not utf8):
                    tmp = Path(tempfile.mkdtemp(prefix="ftcore-utf8-")) / path.name
                    out = open(tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
                if out is not None:
                    out.write(text)
                if not chunk:
                    break
                offset += len(chunk)
                line += chunk.count(b"\n")
    finally:
        if out is not None:
            out.close()
    return Path(out.name) if out is not None else path
