#!/usr/bin/env python3
"""Seeds the corpus of the `request` fuzz target (see fuzz/README.md).

Usage, from broker/protocol:  python3 fuzz/seed_request.py fuzz/corpus/request

Takes the request bodies of tests/messages.rs (the kafka-python ones, read from that
file, and the hand-written ones, copied below) and the API table of
src/messages/generated/mod.rs, and writes each input in both shapes the target reads:
a frame body (request header in the version the API needs, then the body) and a bare
body (API key and version as two big-endian int16s, then the body). Every API also gets
an empty body in each of its versions. Files are named by their SHA-1, as libFuzzer
names them.
"""

import hashlib
import pathlib
import re
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
PROTOCOL = HERE.parent

# Bodies written out byte by byte in tests/messages.rs (check_bytes! calls).
HAND_WRITTEN = [
    (18, 3, "0662726f6f6b06302e312e3000"),  # ApiVersions v3
    (3, 1, "000000010003666f6f"),  # Metadata v1, topics=[foo]
    (3, 1, "ffffffff"),  # Metadata v1, all topics
    # Metadata v12, one topic with an id and a name
    (3, 12, "02" + "00" * 15 + "2a" + "04666f6f00" + "010100"),
]


def apis():
    """(api_key, min_version, max_version, flexible_min or None) from the API table."""
    text = (PROTOCOL / "src/messages/generated/mod.rs").read_text()
    pattern = re.compile(
        r"api_key: (\d+),\s*name: \"\w+\",\s*min_version: (\d+),\s*"
        r"max_version: (\d+),\s*flexible_min: (?:Some\((\d+)\)|None)"
    )
    out = [
        (int(k), int(lo), int(hi), int(f) if f else None)
        for k, lo, hi, f in pattern.findall(text)
    ]
    assert out, "no APIs found in generated/mod.rs"
    return out


def kafka_python_bodies():
    text = (PROTOCOL / "tests/messages.rs").read_text()
    found = re.findall(r'\("req", (\d+), (\d+), "([0-9a-f]*)"\)', text)
    assert found, "no request bodies found in tests/messages.rs"
    return [(int(k), int(v), h) for k, v, h in found]


def header(api_key, version, flexible_min):
    """A request header v1, or v2 when the request version is flexible."""
    client_id = b"seed"
    h = struct.pack(">hhih", api_key, version, 1, len(client_id)) + client_id
    if flexible_min is not None and version >= flexible_min:
        h += b"\x00"  # no tagged fields
    return h


def main():
    out_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/request")
    out_dir.mkdir(parents=True, exist_ok=True)
    table = {k: (lo, hi, f) for k, lo, hi, f in apis()}
    bodies = [(k, v, bytes.fromhex(h)) for k, v, h in kafka_python_bodies() + HAND_WRITTEN]
    for k, (lo, hi, _) in table.items():
        bodies += [(k, v, b"") for v in range(lo, hi + 1)]
    written = set()
    for api_key, version, body in bodies:
        flexible_min = table[api_key][2]
        for data in (
            header(api_key, version, flexible_min) + body,
            struct.pack(">hh", api_key, version) + body,
        ):
            name = hashlib.sha1(data).hexdigest()
            (out_dir / name).write_bytes(data)
            written.add(name)
    print(f"wrote {len(written)} seeds to {out_dir}")


if __name__ == "__main__":
    main()
