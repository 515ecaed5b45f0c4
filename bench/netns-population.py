#!/usr/bin/env python3
# Socket population for bench/netns.mjs: loopback TCP listeners and bound UDP sockets inside
# network namespaces that the benchmark created (`ip netns add`), held by this one process.
#
#   python3 bench/netns-population.py CONFIG_JSON
#   CONFIG_JSON: {"namespaces": ["pwb-x-0", ...] or [null], "listeners": 100, "udp": 5,
#                 "port_base": 20000, "v6_every": 10, "ttl": 900}
#
# For each name it opens /run/netns/NAME and setns(2)s into it (Python 3.11 has no os.setns:
# libc's, through ctypes), then opens its sockets: a socket stays in the namespace it was made
# in, so one process can hold every namespace's sockets. null means "the namespace I am in"
# (for `ip netns exec NS python3 ...`, one process per namespace). Prints one line
# `READY {json}` when every socket is bound, then holds them until stdin reaches EOF (the
# benchmark died or is done), SIGTERM/SIGINT/SIGHUP, or the ttl (SIGALRM): the kernel closes
# the sockets when the process exits, so nothing is left behind.
import ctypes
import json
import os
import resource
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000


def main():
    cfg = json.loads(sys.argv[1])
    names = cfg["namespaces"]
    listeners = int(cfg["listeners"])
    udp = int(cfg["udp"])
    base = int(cfg.get("port_base", 20000))
    v6_every = int(cfg.get("v6_every", 10))
    ttl = int(cfg.get("ttl", 900))

    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(ttl)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: os._exit(0))

    # One fd per socket, plus some for Python itself.
    need = len(names) * (listeners + udp) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))

    libc = ctypes.CDLL(None, use_errno=True)
    held = []
    counts = {}
    for name in names:
        if name is not None:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({name}): {os.strerror(err)}")
            os.close(fd)
        tcp = 0
        for i in range(listeners):
            v6 = v6_every > 0 and i % v6_every == v6_every - 1
            s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("::1" if v6 else "127.0.0.1", base + i))
            s.listen(16)
            held.append(s)
            tcp += 1
        for i in range(udp):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", base + i))
            held.append(u)
        counts[name if name is not None else ""] = {"tcp": tcp, "udp": udp}
    print("READY " + json.dumps({"pid": os.getpid(), "counts": counts}), flush=True)
    # Hold until the benchmark closes our stdin (or dies: EOF as well).
    while sys.stdin.buffer.read(65536):
        pass


if __name__ == "__main__":
    main()
