"""Benchmarks: this project against raw pyzmq, XML-RPC and zerorpc, in one run.

``python -m bench`` (see :mod:`bench.run`). Not installed with the package.
"""
