"""The standalone broker: routing between clients and hosts, its loop, its command line."""
