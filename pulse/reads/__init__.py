"""Reading what the jobs wrote, as pandas frames: the dashboard's and the notebooks' one way in.
One module per subject (`health`, `live`, `products`, `media`, `lake`), each a few functions of
an open store (`sources`) returning a frame shaped for a chart or a table, aggregated in the
store (SQL, Delta filters). Nothing here imports Spark or Streamlit.
"""
