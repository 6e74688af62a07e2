#!/usr/bin/env python3
"""Adds latency to every TCP connection a host opens: a transparent userspace proxy.

This kernel has no tc netem, so `netns.sh delay LAB I MS` runs this inside host I's network
namespace and redirects the host's outgoing TCP connections to it with nftables; it reads the
original destination of each (SO_ORIGINAL_DST), connects there itself (its own sockets carry
fwmark 0x77, which the redirect rule skips) and forwards each chunk of bytes MS milliseconds
after it arrived, in both directions, keeping their order. Runs until killed.

Usage: delay_proxy.py PORT DELAY_MS
"""
import asyncio
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
MARK = 0x77


def original_destination(sock):
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), port


async def pipe(reader, writer, delay):
    """Forwards reader -> writer, each chunk `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def receive():
        while True:
            try:
                data = await reader.read(1 << 16)
            except OSError:
                data = b""
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def send():
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                if not data:
                    writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError:
                return

    await asyncio.gather(receive(), send())


async def handle(client_reader, client_writer, delay):
    sock = client_writer.get_extra_info("socket")
    try:
        host, port = original_destination(sock)
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, MARK)
        upstream.setblocking(False)
        await asyncio.get_running_loop().sock_connect(upstream, (host, port))
        print(f"delay_proxy: connection to {host}:{port}", flush=True)
        up_reader, up_writer = await asyncio.open_connection(sock=upstream)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, up_writer, delay), pipe(up_reader, client_writer, delay))
    for w in (client_writer, up_writer):
        w.close()


async def main():
    port, delay_ms = int(sys.argv[1]), float(sys.argv[2])
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, delay_ms / 1000.0), "127.0.0.1", port)
    print(f"delay_proxy: {delay_ms:g} ms on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: delay_proxy.py PORT DELAY_MS")
    asyncio.run(main())
