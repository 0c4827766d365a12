"""The IP stack: buffer pool, TCP, link with faults, TLS over MemoryBIO, pcap export,
and a host stack with the same socket API on OS sockets."""
