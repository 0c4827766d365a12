"""The SMTP client: sans-I/O protocol core, message building, auth mechanisms, the
event-driven client task, config and release profiles."""
