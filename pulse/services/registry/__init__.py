"""The registry API (`pulse serve registry`): subscribers and their games, clients of matches
and the delivery nodes they are assigned to, kept in MySQL (why FastAPI, and the rooms: "The
registry" in docs/ARCHITECTURE.md).
"""
