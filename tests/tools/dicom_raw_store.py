#!/usr/bin/env python3
"""One C-STORE whose dataset bytes are sent exactly as given, written from the DICOM standard's
PS3.8 (upper layer PDUs) and PS3.7 (command set) with plain sockets, so that a dataset no DICOM
toolkit would write (an element claiming more bytes than follow) can reach a node.

  dicom_raw_store.py HOST PORT CALLED_AE CALLING_AE claim_bytes
prints the C-STORE response's status as 0xNNNN (exit 0), or what went wrong (exit 1).

The dataset (Explicit VR Little Endian, Digital X-Ray for Presentation): SOP Class and Instance UIDs,
Rows/Columns, then Pixel Data (OW) whose length field says claim_bytes while 64 bytes follow.
"""
import socket
import struct
import sys

DX = b"1.2.840.10008.5.1.4.1.1.1.1"
EXPLICIT_LE = b"1.2.840.10008.1.2.1"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"
INSTANCE = b"1.2.826.0.1.3680043.2.1125.99.1"


def even(b):  # UIDs are padded with NUL to an even length
    return b + b"\0" if len(b) % 2 else b


def item(kind, body):  # PS3.8 variable item: type, reserved, 2-byte big-endian length
    return struct.pack(">BBH", kind, 0, len(body)) + body


def ae(name):
    return name.encode().ljust(16)


def associate_rq(called, calling):
    pc = struct.pack(">BBBB", 1, 0, 0, 0) + item(0x30, DX) + item(0x40, EXPLICIT_LE)
    user = item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.826.0.1.3680043.2.1125.99")
    body = (struct.pack(">HH", 1, 0) + ae(called) + ae(calling) + bytes(32) + item(0x10, APP_CONTEXT) +
            item(0x20, pc) + item(0x50, user))
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def implicit(group, elem, value):  # Implicit VR Little Endian element (the command set's encoding)
    return struct.pack("<HHI", group, elem, len(value)) + value


def store_command():
    elems = (implicit(0, 0x0002, even(DX)) + implicit(0, 0x0100, struct.pack("<H", 0x0001)) +
             implicit(0, 0x0110, struct.pack("<H", 1)) + implicit(0, 0x0700, struct.pack("<H", 0)) +
             implicit(0, 0x0800, struct.pack("<H", 0x0000)) + implicit(0, 0x1000, even(INSTANCE)))
    return implicit(0, 0x0000, struct.pack("<I", len(elems))) + elems


def explicit(group, elem, vr, value):  # Explicit VR Little Endian, short-length VRs
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def dataset(claim):
    head = (explicit(0x0008, 0x0016, b"UI", even(DX)) + explicit(0x0008, 0x0018, b"UI", even(INSTANCE)) +
            explicit(0x0028, 0x0010, b"US", struct.pack("<H", 8)) + explicit(0x0028, 0x0011, b"US", struct.pack("<H", 8)))
    pixel = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, claim) + bytes(64)
    return head + pixel


def pdata(pc_id, control, payload):  # P-DATA-TF with one PDV; control bit 0: command, bit 1: last
    pdv = struct.pack(">IBB", len(payload) + 2, pc_id, control) + payload
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def read_pdu(s):
    head = b""
    while len(head) < 6:
        chunk = s.recv(6 - len(head))
        if not chunk:
            raise RuntimeError("connection closed by the node")
        head += chunk
    kind, _, length = struct.unpack(">BBI", head)
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        if not chunk:
            raise RuntimeError("connection closed inside a PDU")
        body += chunk
    return kind, body


def status_of(command):  # (0000,0900) in an Implicit VR Little Endian command set
    i = 0
    while i + 8 <= len(command):
        group, elem, length = struct.unpack_from("<HHI", command, i)
        if (group, elem) == (0, 0x0900):
            return struct.unpack_from("<H", command, i + 8)[0]
        i += 8 + length
    raise RuntimeError("no Status in the response")


def main():
    host, port, called, calling, claim = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(associate_rq(called, calling))
        kind, body = read_pdu(s)
        if kind != 0x02:
            raise RuntimeError(f"association not accepted (PDU type 0x{kind:02x})")
        s.sendall(pdata(1, 0x03, store_command()))
        s.sendall(pdata(1, 0x02, dataset(claim)))
        command = b""
        while True:
            kind, body = read_pdu(s)
            if kind != 0x04:
                raise RuntimeError(f"expected P-DATA-TF, got PDU type 0x{kind:02x}")
            i = 0
            last = False
            while i < len(body):
                length, _, control = struct.unpack_from(">IBB", body, i)
                command += body[i + 6:i + 4 + length]
                last = last or (control & 0x03) == 0x03
                i += 4 + length
            if last:
                break
        print(f"0x{status_of(command):04X}")
        s.sendall(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))  # A-RELEASE-RQ
        try:
            read_pdu(s)  # A-RELEASE-RP
        except (RuntimeError, OSError):
            pass


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the test prints what failed
        print(f"dicom_raw_store: {e}")
        sys.exit(1)
