"""The registry API (`pulse serve registry`): subscribers and their games, clients of matches
and the delivery nodes they are assigned to, kept in MySQL.

Why FastAPI here, while the ingest API is a plain ASGI application: the ingest API takes every
event of the platform and was measured CPU-bound in FastAPI's request path; the registry is
asked a few times per client session, per node heartbeat and per subscriber change, so its
load is low, and what FastAPI gives matters more: validation derived from typed models, and an
OpenAPI document generated from the same models, which the registry's fuzz tests (schemathesis)
will run against.

Rooms: `models` (request and answer models, the input rules; pure), `assignment` (which node,
by rendezvous hashing as the live job, honouring capacity for clients; pure), `store` (every
MySQL query), `app` (the routes, thin) and `server` (start-up checks, uvicorn). API keys are
`pulse.services.auth`, shared with the ingest API.
"""
