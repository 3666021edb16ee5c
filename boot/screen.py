"""The screen console seen from the host: what Keel's kernel should have drawn
(its console output run through the same text grid and rendered with the same
PSF font, kern/fbcon.c), and what a QEMU screendump shows, read back to text.
tests/test_screen.py compares the two pixel for pixel.

The rules mirrored from kern/fbcon.c: cells of the font's size from the top
left; \\n, \\r, \\t (to a multiple of 8), \\b; other control characters show
nothing; a line wraps at the right edge; the grid scrolls a line at a time;
light grey (FG) on black (BG); Latin-1 through the font's Unicode table."""

import gzip
import re
from pathlib import Path

FG = (0xAA, 0xAA, 0xAA)  # kern/fbcon.h FBCON_FG_RGB
BG = (0, 0, 0)           # FBCON_BG_RGB


class Font:
    """A PSF1 or PSF2 font: glyph bitmaps and the Latin-1 map (kern/psf.c's rules)."""

    def __init__(self, path):
        data = Path(path).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        if data[:2] == b"\x36\x04":
            mode, self.height = data[2], data[3]
            n, self.width, header, table = (512 if mode & 1 else 256), 8, 4, bool(mode & 6)
        elif data[:4] == b"\x72\xb5\x4a\x86":
            u32 = lambda o: int.from_bytes(data[o:o + 4], "little")
            header, table, n, self.height, self.width = u32(8), bool(u32(12) & 1), u32(16), u32(24), u32(28)
        else:
            raise ValueError(f"{path}: not a PSF font")
        self.row_bytes = (self.width + 7) // 8
        size = self.row_bytes * self.height
        self.glyphs = [data[header + g * size: header + (g + 1) * size] for g in range(n)]
        self.latin1 = {}
        if table:
            rest = data[header + n * size:]
            if data[:2] == b"\x36\x04":
                codes = [int.from_bytes(rest[i:i + 2], "little") for i in range(0, len(rest) - 1, 2)]
                sep, seq = 0xFFFF, 0xFFFE
            else:
                codes, sep, seq = self._utf8_codes(rest), -1, -2
            g, in_seq = 0, False
            for c in codes:
                if c == sep:
                    g, in_seq = g + 1, False
                elif c == seq:
                    in_seq = True
                elif not in_seq and c < 256 and g < n:
                    self.latin1.setdefault(c, g)
        else:
            self.latin1 = {c: c for c in range(min(n, 256))}
        fallback = self.latin1.get(ord("?"), 0)
        for c in range(256):
            self.latin1.setdefault(c, fallback)

    @staticmethod
    def _utf8_codes(b):
        out, i = [], 0
        while i < len(b):
            if b[i] == 0xFF:
                out.append(-1)
                i += 1
            elif b[i] == 0xFE:
                out.append(-2)
                i += 1
            else:
                n = 1 if b[i] < 0x80 else 2 if b[i] < 0xE0 else 3 if b[i] < 0xF0 else 4
                out.append(ord(b[i:i + n].decode("utf-8")))
                i += n
        return out

    def pixels(self, c):
        """Glyph of Latin-1 character c as rows of booleans."""
        g = self.glyphs[self.latin1[c]]
        return [[bool(g[y * self.row_bytes + x // 8] & (0x80 >> (x % 8))) for x in range(self.width)]
                for y in range(self.height)]


def kernel_output(serial_log):
    """What the kernel wrote to its console, from its banner on (firmware and
    GRUB write to the same serial port before it), without the \\r the UART
    path puts before each \\n. Pass the log as bytes decoded Latin-1, so that
    every byte the kernel wrote is one character here."""
    m = re.search(r"\r?\nKeel \S+: an exokernel", serial_log)
    if not m:
        raise ValueError("no kernel banner in the serial log")
    return serial_log[m.start():].split("\n[qemu stderr]")[0].replace("\r\n", "\n")


def grid(text, cols, rows):
    """The text grid after the console wrote `text`: rows strings of cols characters."""
    g = [[" "] * cols for _ in range(rows)]
    cx = cy = 0

    def newline():
        nonlocal cx, cy
        cx = 0
        cy += 1
        if cy == rows:
            g.pop(0)
            g.append([" "] * cols)
            cy = rows - 1

    def put(ch):
        nonlocal cx
        o = ord(ch)
        if ch == "\n":
            newline()
        elif ch == "\r":
            cx = 0
        elif ch == "\t":
            put(" ")
            while cx % 8:
                put(" ")
        elif ch == "\b":
            cx = max(cx - 1, 0)
        elif o < 0x20 or o == 0x7F or o > 0xFF:
            pass
        else:
            if cx == cols:
                newline()
            g[cy][cx] = ch
            cx += 1

    for ch in text:
        put(ch)
    return ["".join(r) for r in g]


def render(lines, font, width, height):
    """The screen fbcon draws for these grid lines: RGB bytes, width x height."""
    fg, bg = bytes(FG), bytes(BG)
    cache = {}
    out = bytearray(bg * (width * height))
    for row, line in enumerate(lines):
        for col, ch in enumerate(line):
            if ch not in cache:
                cache[ch] = [b"".join(fg if p else bg for p in r) for r in font.pixels(ord(ch))]
            for y, run in enumerate(cache[ch]):
                at = ((row * font.height + y) * width + col * font.width) * 3
                out[at:at + len(run)] = run
    return bytes(out)


def read_ppm(path):
    """(width, height, RGB bytes) of a binary PPM, as QEMU's screendump writes it."""
    data = Path(path).read_bytes()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    if not m:
        raise ValueError(f"{path}: not an 8-bit binary PPM")
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h * 3]


def read_text(rgb, width, height, font):
    """The screen's text, cell by cell: each cell matched exactly against the
    font's glyphs in FG on BG ('\\ufffd' where none matches)."""
    fg, bg = bytes(FG), bytes(BG)
    glyph_of = {}
    for c in range(0x20, 0x7F):
        key = b"".join(b"".join(fg if p else bg for p in r) for r in font.pixels(c))
        glyph_of.setdefault(key, chr(c))
    cols, rows = width // font.width, height // font.height
    lines = []
    for row in range(rows):
        line = []
        for col in range(cols):
            at = [((row * font.height + y) * width + col * font.width) * 3 for y in range(font.height)]
            key = b"".join(rgb[a:a + font.width * 3] for a in at)
            line.append(glyph_of.get(key, "\ufffd"))
        lines.append("".join(line))
    return lines


def write_png(rgb, width, height, path):
    """Save a screen for a person to look at (a failed test keeps one)."""
    import zlib
    import struct
    raw = b"".join(b"\0" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                          + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
