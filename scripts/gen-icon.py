#!/usr/bin/env python3
"""Regenerates src-tauri/icons/icon.png and ui/favicon.png (128x128 RGBA, stdlib only)."""
import math
import struct
import zlib
from pathlib import Path

W = H = 128


def inside_round(x, y, r=28, pad=4):
    x0, y0, x1, y1 = pad, pad, W - pad - 1, H - pad - 1
    if x < x0 or x > x1 or y < y0 or y > y1:
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def pixels():
    for y in range(H):
        row = bytearray([0])
        for x in range(W):
            if not inside_round(x, y):
                row += bytes(4)
                continue
            t = y / H
            r, g, b = int(222 - 46 * t), int(38 - 8 * t), int(48 - 6 * t)
            dx, dy = x - 63.5, y - 63.5
            d = math.hypot(dx, dy)
            ang = abs(math.degrees(math.atan2(dy, abs(dx))))
            if d <= 11 or ((20 <= d <= 27 or 34 <= d <= 41) and ang <= 42):
                r, g, b = 255, 255, 255
            row += bytes([r, g, b, 255])
        yield bytes(row)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


png = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 6, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"".join(pixels()), 9))
    + chunk(b"IEND", b"")
)
root = Path(__file__).resolve().parent.parent
for p in (root / "src-tauri/icons/icon.png", root / "ui/favicon.png"):
    p.write_bytes(png)
