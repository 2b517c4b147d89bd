#!/usr/bin/env python3
"""What one durable write costs on the disk under a folder: the device operations it takes and
its latency, as keel's journal writes (a 4 KiB O_DIRECT write, then fdatasync).

    python3 tools/sync-probe.py [--dir DIR] [--count N]

Writes a scratch file of 1 MiB in DIR (default: the current folder), rewrites its blocks COUNT
times (default 300), each followed by fdatasync, and prints the device reads, writes and flushes
per durable write (from /proc/diskstats of the device holding DIR: whole-device figures, so
anything else using the disk counts too) and the latency's p50, p99 and max. The file is removed
afterwards. On a file system without O_DIRECT (tmpfs) it uses buffered writes and says so.
docs/operations.md says what the figures mean for a replica's data folder.
"""

import argparse
import mmap
import os
import sys
import tempfile
import time

BLOCK_SIZE_BYTES = 4096
FILE_BLOCKS = 256


def device_counters(major, minor):
    """(reads, writes, flushes) completed by the device, or None if /proc/diskstats lacks it."""
    try:
        with open("/proc/diskstats") as diskstats:
            for line in diskstats:
                fields = line.split()
                if int(fields[0]) == major and int(fields[1]) == minor:
                    flushes = int(fields[18]) if len(fields) > 18 else 0
                    return int(fields[3]), int(fields[7]), flushes
    except OSError:
        return None
    return None


def open_scratch(folder):
    """A scratch file in folder, opened O_DIRECT where the file system allows it."""
    descriptor, path = tempfile.mkstemp(prefix="keel-sync-probe-", dir=folder)
    os.close(descriptor)
    try:
        return os.open(path, os.O_RDWR | os.O_DIRECT), path, True
    except OSError:
        return os.open(path, os.O_RDWR), path, False


def percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def probe(folder, count):
    descriptor, path, direct = open_scratch(folder)
    try:
        block = mmap.mmap(-1, BLOCK_SIZE_BYTES)  # page-aligned, as O_DIRECT needs
        block.write(b"k" * BLOCK_SIZE_BYTES)
        # Every block written once and synced first: the first write to a fresh block also
        # allocates it, which is not what a replica's preformatted WAL pays.
        for index in range(FILE_BLOCKS):
            os.pwrite(descriptor, block, index * BLOCK_SIZE_BYTES)
        os.fsync(descriptor)
        stat = os.fstat(descriptor)
        major, minor = os.major(stat.st_dev), os.minor(stat.st_dev)
        before = device_counters(major, minor)
        latencies_us = []
        for index in range(count):
            start = time.perf_counter()
            os.pwrite(descriptor, block, (index % FILE_BLOCKS) * BLOCK_SIZE_BYTES)
            os.fdatasync(descriptor)
            latencies_us.append((time.perf_counter() - start) * 1e6)
        after = device_counters(major, minor)
    finally:
        os.close(descriptor)
        os.unlink(path)
    latencies_us.sort()
    print(f"sync-probe: {count} durable writes of {BLOCK_SIZE_BYTES} bytes in {folder} "
          f"({'O_DIRECT' if direct else 'buffered: the file system refused O_DIRECT'}, "
          "then fdatasync)")
    print(f"latency: p50 {percentile(latencies_us, 0.50):.0f} us, "
          f"p99 {percentile(latencies_us, 0.99):.0f} us, max {latencies_us[-1]:.0f} us")
    if before is None or after is None:
        print(f"device operations: unknown (device {major}:{minor} is not in /proc/diskstats)")
        return
    reads, writes, flushes = (b - a for a, b in zip(before, after))
    print(f"device operations per durable write (device {major}:{minor}): reads "
          f"{reads / count:.2f}, writes {writes / count:.2f}, flushes {flushes / count:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=".", help="a folder on the disk to probe")
    parser.add_argument("--count", type=int, default=300, help="durable writes (1 to 100000)")
    arguments = parser.parse_args()
    if not 1 <= arguments.count <= 100_000:
        parser.error("--count must be from 1 to 100000")
    if not os.path.isdir(arguments.dir):
        parser.error(f"--dir {arguments.dir} is not a folder")
    try:
        probe(arguments.dir, arguments.count)
    except OSError as error:
        print(f"sync-probe: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
