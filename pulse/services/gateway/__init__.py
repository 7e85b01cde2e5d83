"""The delivery gateway: WebSocket nodes, grouped in clusters, that push live results to clients.

Each node (`pulse serve gateway --cluster C --node N`) follows three kinds of Redis channels:
its cluster's emoji feed `cluster:{C}:emoji` (relayed from Kafka by the cluster publisher,
`pulse.services.publisher`), the `match:{id}` scoreboard channel of each match its clients
watch, and `node:{N}`, the game updates the live job routed to it by rendezvous hashing. It
pushes JSON messages, `{"type": "score" | "emoji" | "game", "id": ..., ...}`, to the clients
they are for, once each.

Why the `websockets` library on its own asyncio server (with uvloop), not uvicorn with an ASGI
framework: a node's work is holding many idle connections and writing one small message to
thousands of them at once. `websockets` keeps a connection in one object with no per-message
ASGI hop (`send` goes straight to the protocol, framing in C), and its server costs about
what the socket costs; uvicorn would put the same library behind an ASGI layer that adds a
task switch and dict-shaped messages per send, which is the hot loop of the fan-out. Compression
is off (permessage-deflate holds about 300 KiB of zlib state per connection: 3 GB at 10k).

Rooms: `admission` (handshake checks), `messages` (a Redis message as a client message, its
id), `dedupe` (recent ids), `roster` (who gets what), `outbox` (a bounded send queue per
client), `listener` (Redis pub/sub), `registry` (the registry API), `node` (the node),
`server` (`pulse serve gateway`), `client` (the reconnecting client of tests, load tests and
`pulse client`).
"""
