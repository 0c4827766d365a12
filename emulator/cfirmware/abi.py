"""The C firmware contract (``include/hil_firmware.h``) in ctypes: structures, constants,
and the exported functions' signatures.

This module knows the header's layout and nothing else; keep the two in step (the ABI
version guards it at init).
"""

from __future__ import annotations

import ctypes
import enum
from typing import Final

ABI_VERSION: Final = 1

OK: Final = 0
INVALID: Final = 1
STOPPED: Final = 2
ASSERTION_FAILED: Final = 3


class Capability(enum.IntFlag):
    """``enum hil_fw_capability``: what a firmware's SMTP client can do."""

    STARTTLS = 1 << 0
    IMPLICIT_TLS = 1 << 1
    PIPELINING = 1 << 2
    CHUNKING = 1 << 3
    DSN = 1 << 4
    VRFY = 1 << 5
    ETRN = 1 << 6
    AUTH_PLAIN = 1 << 7
    AUTH_LOGIN = 1 << 8
    AUTH_CRAM_MD5 = 1 << 9
    AUTH_ANONYMOUS = 1 << 10
    AUTH_XOAUTH2 = 1 << 11
    MULTIPLE_RECIPIENTS = 1 << 12
    CC_BCC_REPLY_TO = 1 << 13
    ATTACHMENTS = 1 << 14
    SENDER_NAME = 1 << 15
    CONFIG_VERSION = 1 << 16


class EventKind(enum.IntEnum):
    """``enum hil_fw_event_kind``."""

    SENT = 1
    COMMAND_ABORT = 2
    ERROR = 3
    TIMEOUT = 4
    CONNECTED = 5
    AUTHENTICATED = 6
    RECIPIENT_REJECTED = 7


ERROR_KIND_NAMES: Final[tuple[str | None, ...]] = (
    None, "tls_failed", "tls_required", "auth_failed", "protocol", "size_exceeded",
    "connection_lost", "connection_refused", "service_unavailable", "unsupported",
    "invalid_input", None, "out_of_memory")
"""``enum hil_fw_error_kind`` by value: the names of ``smtp.events.ErrorKind``; None where
the value names no error kind (0: none; 11: reserved, once ``no_recipients``)."""


class PoolOp(enum.IntEnum):
    """``enum hil_fw_pool_op``."""

    ALLOC = 1
    FREE = 2
    EXHAUSTED = 3
    DROP = 4


IPv4Bytes = ctypes.c_uint8 * 4


class Config(ctypes.Structure):
    _fields_ = [
        ("abi_version", ctypes.c_uint32), ("now_ms", ctypes.c_uint64),
        ("seed", ctypes.c_uint32), ("ip", IPv4Bytes), ("netmask", IPv4Bytes),
        ("gateway", IPv4Bytes), ("mtu", ctypes.c_uint16), ("pool_buffers", ctypes.c_uint16),
        ("buffer_size", ctypes.c_uint16), ("server_ip", IPv4Bytes),
        ("server_port", ctypes.c_uint16), ("domain", ctypes.c_char_p),
        ("hostname", ctypes.c_char_p), ("username", ctypes.c_char_p),
        ("password", ctypes.c_char_p), ("options", ctypes.c_char_p),
    ]


class Job(ctypes.Structure):
    _fields_ = [
        ("job_id", ctypes.c_uint32), ("sender", ctypes.c_char_p),
        ("recipients", ctypes.POINTER(ctypes.c_char_p)), ("recipient_count", ctypes.c_uint32),
        ("subject", ctypes.c_char_p), ("body", ctypes.POINTER(ctypes.c_uint8)),
        ("body_len", ctypes.c_size_t),
    ]


class Event(ctypes.Structure):
    _fields_ = [
        ("job_id", ctypes.c_uint32), ("kind", ctypes.c_uint32), ("error_kind", ctypes.c_uint32),
        ("reply_code", ctypes.c_uint32), ("command", ctypes.c_char_p),
        ("reply_text", ctypes.c_char_p), ("detail", ctypes.c_char_p),
    ]


class PoolStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in (
        "count", "size", "in_use", "peak_in_use", "allocations", "failed_allocations",
        "frames_dropped")]


class Fault(ctypes.Structure):
    _fields_ = [("file", ctypes.c_char_p), ("line", ctypes.c_uint32),
                ("message", ctypes.c_char_p)]


TransmitFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8),
                              ctypes.c_size_t)
EventFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(Event))
PoolFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                          ctypes.c_char_p)
LogFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)


class Host(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("transmit", TransmitFn), ("event", EventFn),
                ("pool", PoolFn), ("log", LogFn)]


def bind(lib: ctypes.CDLL) -> None:
    """Declare the signatures of the exported ``hil_fw_*`` functions on ``lib``."""
    lib.hil_fw_describe.restype = ctypes.c_char_p
    lib.hil_fw_describe.argtypes = []
    lib.hil_fw_capabilities.restype = ctypes.c_uint32
    lib.hil_fw_capabilities.argtypes = []
    lib.hil_fw_init.restype = ctypes.c_int
    lib.hil_fw_init.argtypes = [ctypes.POINTER(Host), ctypes.POINTER(Config), ctypes.c_char_p,
                                ctypes.c_size_t]
    lib.hil_fw_input.restype = ctypes.c_int
    lib.hil_fw_input.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]
    lib.hil_fw_advance.restype = ctypes.c_int
    lib.hil_fw_advance.argtypes = [ctypes.c_uint64]
    lib.hil_fw_next_deadline.restype = ctypes.c_int
    lib.hil_fw_next_deadline.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
    lib.hil_fw_submit.restype = ctypes.c_int
    lib.hil_fw_submit.argtypes = [ctypes.c_uint64, ctypes.POINTER(Job)]
    lib.hil_fw_get_pool_stats.restype = ctypes.c_int
    lib.hil_fw_get_pool_stats.argtypes = [ctypes.POINTER(PoolStats)]
    lib.hil_fw_get_fault.restype = ctypes.c_int
    lib.hil_fw_get_fault.argtypes = [ctypes.POINTER(Fault)]
