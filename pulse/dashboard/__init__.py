"""The Streamlit dashboard's parts: cached store connections, notices, charts.

The pages themselves live in `dashboards/` (`dashboards/app.py` is what `streamlit run` runs);
what they read comes from `pulse.reads`, shared with the notebooks. Only this room and
`dashboards/` import Streamlit.
"""
