"""pyserial URL handlers for the emulator (pyserial imports ``<package>.protocol_<scheme>``).

Only :mod:`emulator.serialhandlers.protocol_hil` lives here; see :mod:`emulator.serialurl`.
"""
