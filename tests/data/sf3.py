"""Write an SF3 font from an SF2 one, for testing that .sf3 files render.

SF3 is the SoundFont layout with each sample stored as its own Ogg Vorbis stream
(MuseScore's extension, read by FluidSynth): the ``smpl`` chunk holds the
streams back to back, a sample header's start and end are byte offsets of its
stream, its loop points count frames from the sample's own start, the sample
type carries the 0x10 flag, and ``ifil`` says version 3. Debian ships no SF3
(its default-GM.sf3 links to the SF2), so the tests make one.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

SHDR = struct.Struct("<20sIIIIIBbHH")
VORBIS = 0x10
ROM = 0x8000


def _chunks(data: bytes, start: int, end: int):
    while start + 8 <= end:
        tag, size = data[start:start + 4], struct.unpack_from("<I", data, start + 4)[0]
        yield tag, start + 8, size
        start += 8 + size + (size & 1)


def _chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _lists(data: bytes) -> dict[bytes, dict[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError("not a SoundFont")
    lists = {}
    for tag, body, size in _chunks(data, 12, len(data)):
        if tag == b"LIST":
            kind = data[body:body + 4]
            lists[kind] = {t: data[b:b + s] for t, b, s in _chunks(data, body + 4, body + size)}
    return lists


def sf2_to_sf3(sf2: str | Path, sf3: str | Path) -> Path:
    data = Path(sf2).read_bytes()
    lists = _lists(data)
    info, sdta, pdta = lists[b"INFO"], lists[b"sdta"], lists[b"pdta"]
    pcm = np.frombuffer(sdta[b"smpl"], dtype="<i2")

    streams, headers = bytearray(), []
    raw = pdta[b"shdr"]
    for offset in range(0, len(raw) - SHDR.size, SHDR.size):  # the last record is the EOS terminator
        name, start, end, loop_start, loop_end, rate, root, cents, link, kind = SHDR.unpack_from(raw, offset)
        if kind & ROM or end <= start:
            headers.append(SHDR.pack(name, 0, 0, 0, 0, rate, root, cents, link, kind))
            continue
        buf = io.BytesIO()
        frames = pcm[start:end].astype(np.float32) / 32768.0
        with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="OGG", subtype="VORBIS") as out:
            out.write(frames)
        stream = buf.getvalue()
        headers.append(SHDR.pack(name, len(streams), len(streams) + len(stream), loop_start - start,
                                 loop_end - start, rate, root, cents, link, kind | VORBIS))
        streams += stream
    headers.append(raw[len(raw) - SHDR.size:])

    info = {**info, b"ifil": struct.pack("<HH", 3, 1)}
    pdta = {**pdta, b"shdr": b"".join(headers)}

    def listed(kind: bytes, chunks: dict[bytes, bytes]) -> bytes:
        return _chunk(b"LIST", kind + b"".join(_chunk(tag, body) for tag, body in chunks.items()))

    body = b"sfbk" + listed(b"INFO", info) + listed(b"sdta", {b"smpl": bytes(streams)}) + listed(b"pdta", pdta)
    Path(sf3).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return Path(sf3)
