"""Connects to a server the engine runs on 127.0.0.1 (port n) and to the internet. It answers 2 * n,
the right answer, only if a connection worked, so it may pass only where the network is not isolated."""
import socket


def solve(n):
    for address in [("127.0.0.1", n), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
        try:
            with socket.create_connection(address, timeout=0.3) as connection:
                connection.sendall(b"escaped")
                return 2 * n
        except OSError:
            pass
    return -1
