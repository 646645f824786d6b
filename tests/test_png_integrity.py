"""`verify_png` against PIL's full decode: never weaker on any corruption, exact on named defects."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semitruths_dagster.png_integrity import BrokenPNG, verify_png
from semitruths_dagster.validation import ItemRejected, verified_rgb


def encoded(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def handmade(raw: bytes, width: int, height: int, split: int = 0, interlace: int = 0, tail: bytes = b"") -> bytes:
    """An 8-bit RGB PNG whose scanlines (filter byte + pixels) are `raw`, in IDAT chunks of `split` bytes."""
    stream = zlib.compress(raw)
    pieces = [stream[i : i + split] for i in range(0, len(stream), split)] if split else [stream]
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + b"".join(chunk(b"IDAT", p) for p in pieces)
            + tail + chunk(b"IEND", b""))


def pil_decodes(data: bytes) -> bool:
    try:
        Image.open(io.BytesIO(data)).load()
        return True
    except Exception:  # noqa: BLE001 - any failure of PIL's decode counts as "does not decode"
        return False


def verifies(data: bytes) -> bool:
    try:
        return verify_png(data)
    except BrokenPNG:
        return False


rng = np.random.default_rng(0)
SMALL = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes: scanlines straddle pieces


@pytest.mark.parametrize("array,save", [
    (SMALL, {}),
    (SMALL, {"compress_level": 1}),
    (SMALL, {"compress_level": 9}),
    (SMALL[..., 0], {}),  # L
    (np.dstack([SMALL, SMALL[..., :1]]), {}),  # RGBA
    ((SMALL[..., 0] > 127), {}),  # 1-bit
    (SMALL.astype(np.uint16)[..., 0] * 257, {}),  # 16-bit grey
    (rng.integers(0, 256, (1100, 1300, 3), dtype=np.uint8), {"compress_level": 0}),  # > 4 MiB inflated, many IDATs
])
def test_whole_pngs_of_every_kind_verify(array, save):
    data = encoded(array, **save)
    assert pil_decodes(data)
    assert verify_png(data) is True


def test_many_idat_chunks_and_ancillary_chunks_verify():
    raw = b"".join(b"\x00" + SMALL[y].tobytes() for y in range(SMALL.shape[0]))
    data = handmade(raw, 53, 37, split=7, tail=chunk(b"tEXt", b"Comment\x00made by hand"))
    assert pil_decodes(data) and verify_png(data) is True


def test_random_truncations_and_byte_flips_are_never_accepted_where_pil_fails():
    whole = encoded(SMALL)
    cases, disagreements = 0, []
    picks = np.random.default_rng(1)
    for _ in range(400):
        data = bytearray(whole)
        if picks.random() < 0.3:
            data = data[: int(picks.integers(1, len(whole)))]
        else:
            for at in picks.integers(8, len(whole), int(picks.integers(1, 4))):
                data[at] ^= 1 << int(picks.integers(0, 8))
        cases += 1
        if not pil_decodes(bytes(data)) and verifies(bytes(data)):
            disagreements.append(bytes(data))
    assert cases == 400 and disagreements == []


def test_corrupt_deflate_with_valid_crcs_is_rejected():
    """A flipped byte inside the IDAT data with its CRC recomputed: only the zlib stream can tell."""
    raw = b"".join(b"\x00" + SMALL[y].tobytes() for y in range(SMALL.shape[0]))
    stream = bytearray(zlib.compress(raw))
    rejected = 0
    for at in range(2, len(stream), max(1, len(stream) // 60)):
        broken = bytearray(stream)
        broken[at] ^= 0x10
        ihdr = struct.pack(">IIBBBBB", 53, 37, 8, 2, 0, 0, 0)
        data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(broken)) + chunk(b"IEND", b"")
        assert pil_decodes(data) <= verifies(data)  # never accepted where PIL fails
        rejected += not verifies(data)
    assert rejected >= 55  # Adler-32 catches what inflates by chance


@pytest.mark.parametrize("defect,message", [
    ("filter", "scanline 5 has filter type 7"),
    ("short", "holds 5910 bytes, the IHDR declares 5920"),
    ("cut_stream", "stops after"),
    ("long", "inflates past"),
    ("no_iend", "before the IEND chunk"),
    ("split_idat", "follows another chunk"),
    ("crc", "fails its CRC"),
    ("no_idat", "no IDAT chunk"),
])
def test_named_defects(defect, message):
    rows = [b"\x00" + SMALL[y].tobytes() for y in range(SMALL.shape[0])]
    if defect == "filter":
        rows[5] = b"\x07" + rows[5][1:]
    raw = b"".join(rows)
    data = {"short": handmade(raw[:-10], 53, 37), "long": handmade(raw + b"\x00" * 200, 53, 37),
            "split_idat": handmade(raw, 53, 37, split=40)}.get(defect, handmade(raw, 53, 37))
    if defect == "cut_stream":  # the zlib stream cut short inside a chunk whose CRC is right
        stream = zlib.compress(raw)[:-30]
        data = data[:33] + chunk(b"IDAT", stream) + chunk(b"IEND", b"")
    if defect == "no_iend":
        data = data[:-12]
    if defect == "split_idat":
        first_end = 8 + 25 + 12 + 40
        data = data[:first_end] + chunk(b"tEXt", b"a\x00b") + data[first_end:]
    if defect == "crc":
        data = data[:-5] + bytes([data[-5] ^ 1]) + data[-4:]
    if defect == "no_idat":
        data = data[:33] + data[-12:]
    with pytest.raises(BrokenPNG, match=message):
        verify_png(data)
    if defect in ("filter", "short", "cut_stream", "split_idat", "no_idat"):
        assert not pil_decodes(data)  # PIL agrees; the other defects PIL tolerates (module docstring)


def test_interlaced_is_left_to_a_full_decode(tmp_path: Path):
    raw = b"".join(b"\x00" + SMALL[y].tobytes() for y in range(SMALL.shape[0]))
    data = handmade(raw, 53, 37, interlace=1)  # Adam7 declared, data laid out as if not: a decode fails
    assert verify_png(data) is False
    path = tmp_path / "interlaced.png"
    path.write_bytes(data)
    with pytest.raises(ItemRejected) as caught:
        verified_rgb(path)
    assert caught.value.rule == "decodable"


def test_verified_rgb_reports_size_format_and_the_bytes(tmp_path: Path):
    path = tmp_path / "a.png"
    path.write_bytes(encoded(SMALL))
    image, data = verified_rgb(path)
    assert (image.format, image.size, data) == ("PNG", (53, 37), path.read_bytes())
    jpeg = tmp_path / "b.jpg"
    Image.fromarray(SMALL).save(jpeg, quality=90)
    assert verified_rgb(jpeg)[0].size == (53, 37)
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    with pytest.raises(ItemRejected, match="cannot decode image"):
        verified_rgb(jpeg)
    grey = tmp_path / "c.png"
    grey.write_bytes(encoded(SMALL[..., 0]))
    with pytest.raises(ItemRejected) as caught:
        verified_rgb(grey)
    assert caught.value.rule == "rgb_image"
