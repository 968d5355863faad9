"""The only zmq below the drivers: frames, sockets, contexts, endpoints."""
