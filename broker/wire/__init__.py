"""The wire protocol without I/O: messages, codec and limits, envelopes, calls."""
