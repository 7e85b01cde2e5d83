"""Reading what the jobs wrote, as pandas frames: the dashboard's and the notebooks' one way in.

One module per subject (`health`, `live`, `products`, `media`, `lake`), each a handful of
functions that take an open store (`sources`) and return a frame shaped for a chart or a table.
Aggregation happens in the store (SQL, Delta filters), so a page reads rows per window, not rows
per event. Nothing here imports Spark or Streamlit: a notebook uses the same functions.
"""
