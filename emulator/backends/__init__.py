"""Backends for devices outside the simulation: Renode, and real boards on a serial port.

:mod:`emulator.backends.renode` starts Renode with a ``.resc`` script and puts the
board's UART on a TCP socket; :mod:`emulator.backends.serialboard` reads and writes
console lines over any pyserial URL (that socket, a serial port, ``loop://``,
``hil://``) and drives a real board whose network reaches ``smtp-hil serve``.

Unlike the rest of :mod:`emulator`, these modules live in real time: they read the wall
clock, start OS processes and open OS sockets and devices. Nothing inside a simulated
run may use them.
"""
