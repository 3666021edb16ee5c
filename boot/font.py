#!/usr/bin/python3
"""The screen console's font, as the ISO carries it: a PSF file, unpacked if
gzipped (Debian ships its console fonts as .psf.gz).

    font.py SRC.psf[.gz] OUT.psf
"""
import gzip
import sys
from pathlib import Path


def main(src, out):
    data = Path(src).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data[:2] != b"\x36\x04" and data[:4] != b"\x72\xb5\x4a\x86":
        sys.exit(f"font.py: {src} is not a PSF font")
    Path(out).write_bytes(data)


if __name__ == "__main__":
    main(*sys.argv[1:])
