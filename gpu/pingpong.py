"""Loopback TCP round trip between two processes (1-byte ping, 1-byte pong), to calibrate how long one thread wake-up and
hop costs on this machine: a gRPC round trip crosses several. Prints one JSON object.

    python3 gpu/pingpong.py [--iters 20000]
"""
import argparse
import json
import os
import socket
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=20000)
    args = parser.parse_args()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    if os.fork() == 0:
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(1)
            if not data:
                os._exit(0)
            conn.sendall(data)
    client = socket.create_connection(("127.0.0.1", port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter_ns()
        client.sendall(b"x")
        client.recv(1)
        times.append((time.perf_counter_ns() - t0) / 1000.0)
    client.close()
    os.wait()
    times.sort()
    pick = lambda q: round(times[int(q * (len(times) - 1))], 1)
    print(json.dumps({"mode": "pingpong", "iters": args.iters, "rtt_us": {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "min": pick(0.0)}}))


if __name__ == "__main__":
    main()
