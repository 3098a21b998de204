#!/usr/bin/env python3
"""Renders a tmux capture with colours (tmux capture-pane -e -p) into a PNG.

Used to make assets/console.png from a real `rampdeck demo` run:

    tmux new -d -s shot -x 120 -y 40 'cargo run --release -- demo'
    sleep 70; tmux capture-pane -e -p -t shot > /tmp/shot.ansi
    python3 assets/screenshot.py /tmp/shot.ansi assets/console.png

Needs Pillow and the DejaVu Sans Mono font (fonts-dejavu-core).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
# A dark palette for the 16 ANSI colours.
PALETTE = [
    (30, 30, 30), (224, 108, 117), (152, 195, 121), (229, 192, 123),
    (97, 175, 239), (198, 120, 221), (86, 182, 194), (200, 200, 200),
    (110, 110, 110), (240, 128, 128), (170, 220, 140), (240, 210, 140),
    (130, 190, 250), (220, 150, 240), (120, 210, 220), (250, 250, 250),
]
BG, FG = (24, 24, 27), (215, 215, 215)


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    v = 8 + (n - 232) * 10
    return v, v, v


def parse(text):
    """Yields rows of (char, fg, bg, bold) cells."""
    fg, bg, bold, reverse = FG, BG, False, False
    for line in text.split("\n"):
        row = []
        for part in re.split(r"(\x1b\[[0-9;]*m)", line):
            if part.startswith("\x1b["):
                codes = [int(c) if c else 0 for c in part[2:-1].split(";")]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        fg, bg, bold, reverse = FG, BG, False, False
                    elif c == 1:
                        bold = True
                    elif c == 22:
                        bold = False
                    elif c == 7:
                        reverse = True
                    elif c == 27:
                        reverse = False
                    elif 30 <= c <= 37:
                        fg = PALETTE[c - 30]
                    elif 90 <= c <= 97:
                        fg = PALETTE[c - 90 + 8]
                    elif 40 <= c <= 47:
                        bg = PALETTE[c - 40]
                    elif 100 <= c <= 107:
                        bg = PALETTE[c - 100 + 8]
                    elif c == 39:
                        fg = FG
                    elif c == 49:
                        bg = BG
                    elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                        col = xterm256(codes[i + 2])
                        fg, bg = (col, bg) if c == 38 else (fg, col)
                        i += 2
                    elif c in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                        col = tuple(codes[i + 2:i + 5])
                        fg, bg = (col, bg) if c == 38 else (fg, col)
                        i += 4
                    i += 1
            else:
                for ch in part:
                    f, b = (bg, fg) if reverse else (fg, bg)
                    row.append((ch, f, b, bold))
        yield row


# Braille cell dots: bit -> (column, row) in a 2x4 grid.
BRAILLE_DOTS = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]


def draw_braille(d, c, px, py, cw, ch, fill):
    """Draws a braille cell as dots: the charts' line resolution, independent of fonts."""
    bits = ord(c) - 0x2800
    for bit, (col, row) in enumerate(BRAILLE_DOTS):
        if bits & (1 << bit):
            x = px + (col + 0.5) * cw / 2
            y = py + (row + 0.5) * ch / 4
            d.rectangle([x - 1.2, y - 1.2, x + 1.2, y + 1.2], fill=fill)


def main(src, dst):
    rows = list(parse(open(src, encoding="utf-8").read().rstrip("\n")))
    size = 16
    font, bold = ImageFont.truetype(FONT, size), ImageFont.truetype(BOLD, size)
    cw = round(font.getlength("M"))
    ch = round(size * 1.25)
    width = max(len(r) for r in rows)
    img = Image.new("RGB", (width * cw + 16, len(rows) * ch + 16), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (c, f, b, is_bold) in enumerate(row):
            px, py = 8 + x * cw, 8 + y * ch
            if b != BG:
                d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=b)
            if 0x2800 <= ord(c) <= 0x28FF:
                draw_braille(d, c, px, py, cw, ch, f)
            elif c != " ":
                d.text((px, py), c, font=bold if is_bold else font, fill=f)
    img.save(dst)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
