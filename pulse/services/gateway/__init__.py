"""The delivery gateway: WebSocket nodes, grouped in clusters, that push live results to clients
(its feeds, messages, rooms and why `websockets` rather than uvicorn: "The delivery gateway" in
docs/ARCHITECTURE.md).
"""
