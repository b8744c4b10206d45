#!/usr/bin/env python3
"""Holds N SSE streams on a running push-broker and prints what they cost.

Opens N streams from one process (selectors/epoll, no thread per stream),
waits until every stream has its opening `retry:`, reads the broker's RSS and
thread count from /proc, then times one broadcast until every stream has it.
Bounded: N streams, one broadcast, --timeout seconds in all. Loopback only.

  bench/stream_hold.py --pid $(pgrep -n push-broker) --streams 10000 \
      --http_port 8080 --pushctl build/pushctl --grpc_target 127.0.0.1:50051
"""
import argparse
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True, help="push-broker's pid")
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--http_port", type=int, default=8080)
    parser.add_argument("--grpc_target", default="127.0.0.1:50051")
    parser.add_argument("--pushctl", default="build/pushctl")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    deadline = time.monotonic() + args.timeout
    base_rss, base_threads = proc_status(args.pid)

    sel = selectors.DefaultSelector()
    buffers = {}
    start = time.monotonic()
    for i in range(args.streams):
        # Spread source addresses over 127.0.0.0/8 to stay clear of port exhaustion.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((f"127.0.{1 + i // 20000}.{1 + (i // 250) % 250}", 0))
        s.connect(("127.0.0.1", args.http_port))
        s.sendall(f"GET /v1/events?client_id=bench{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        buffers[i] = b""

    def pump(marker, pending):
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1.0):
                i = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sys.exit(f"stream {i} closed by the broker")
                buffers[i] += chunk
                if i in pending and marker in buffers[i]:
                    pending.discard(i)
                    buffers[i] = b""
        return pending

    left = pump(b"retry:", set(range(args.streams)))
    connected = time.monotonic() - start
    if left:
        sys.exit(f"{len(left)} streams never opened")
    time.sleep(1.0)
    rss, threads = proc_status(args.pid)

    token = f"bench-{time.time_ns()}".encode()
    sent = time.monotonic()
    subprocess.run([args.pushctl, f"--target={args.grpc_target}", "publish", "--broadcast",
                    token.decode()], check=True, stdout=subprocess.DEVNULL)
    arrival = {}
    pending = set(range(args.streams))
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            i = key.data
            chunk = key.fileobj.recv(65536)
            buffers[i] += chunk
            if i in pending and token in buffers[i]:
                pending.discard(i)
                arrival[i] = time.monotonic() - sent
    if pending:
        sys.exit(f"{len(pending)} streams missed the broadcast")
    latencies = sorted(arrival.values())
    # Request threads linger 10 s after the connect burst, then leave.
    time.sleep(max(0.0, 12.0 - (time.monotonic() - start - connected)))
    _, idle_threads = proc_status(args.pid)

    print(f"streams                    {args.streams}")
    print(f"all connected in           {connected:.2f} s")
    print(f"broker RSS                 {rss / 1024:.1f} MiB ({(rss - base_rss) / args.streams:.2f} KiB per stream)")
    print(f"broker threads             {threads} right after the burst, {idle_threads} once idle (before: {base_threads})")
    print(f"broadcast to all, p50      {statistics.median(latencies) * 1000:.1f} ms (includes pushctl start)")
    print(f"broadcast to all, p99/max  {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} / {latencies[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
