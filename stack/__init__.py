"""The IP stack: buffer pool (``pool``), link with faults (``link``), TCP (``tcp/``), TLS
over MemoryBIO (``tls/``), pcap export (``pcap``), the IPv4/TCP wire codec (``wire``),
and a host stack with the same socket API (``api``) on OS sockets (``host/``).

It imports only the emulator's core (kernel, trace, units, checks), never ``smtp`` or
``scenarios``."""
