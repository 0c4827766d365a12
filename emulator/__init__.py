"""The simulated world: virtual-time kernel, trace, RTC and the emulated board.

Nothing in this package reads the wall clock, the OS random generator or OS sockets.
"""
