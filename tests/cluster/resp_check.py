#!/usr/bin/env python3
"""Writes keys through a keel replica's Redis port and reads them back (tests/cluster).

  resp_check.py write PORT COUNT PREFIX ACKED_FILE   SETs PREFIX:i = v-i, 16 in flight at a time
                                                     (pipelined); every +OK goes to ACKED_FILE
  resp_check.py verify PORT ACKED_FILE               GETs each acknowledged key; exit 1 on any
                                                     missing or different value

Speaks RESP over a plain socket, so the test needs nothing beyond python3.
"""
import socket
import sys


def command(*words):
    out = b"*%d\r\n" % len(words)
    for word in words:
        data = word.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


class Connection:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            size = int(line[1:])
            if size < 0:
                return None
            while len(self.buffer) < size + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buffer += chunk
            value, self.buffer = self.buffer[:size], self.buffer[size + 2:]
            return value.decode()
        return line.decode()


def write(port, count, prefix, acked_path):
    connection = Connection(port)
    window = 16
    acked = 0
    with open(acked_path, "a") as acked_file:
        for start in range(0, count, window):
            keys = range(start, min(count, start + window))
            connection.send(b"".join(command("SET", f"{prefix}:{i}", f"v-{i}") for i in keys))
            for i in keys:
                answer = connection.reply()
                if answer == "+OK":
                    acked_file.write(f"{prefix}:{i} v-{i}\n")
                    acked += 1
            acked_file.flush()  # the test watches the file to act midway
    print(f"write: {acked} of {count} acknowledged")
    return 0 if acked > 0 else 1


def verify(port, acked_path):
    connection = Connection(port)
    pairs = [line.split() for line in open(acked_path) if line.strip()]
    bad = 0
    for key, value in pairs:
        connection.send(command("GET", key))
        answer = connection.reply()
        if answer != value:
            print(f"verify: {key} reads {answer!r}, acknowledged as {value!r}")
            bad += 1
    print(f"verify: {len(pairs) - bad} of {len(pairs)} acknowledged writes read back")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        sys.exit(write(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]))
    sys.exit(verify(int(sys.argv[2]), sys.argv[3]))
