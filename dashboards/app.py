"""`streamlit run dashboards/app.py` (`make dashboard`, `pulse dashboard`): Pulse's dashboard.

Five pages over what the jobs write; each page's live part redraws itself every
`dashboard.refresh_seconds` (`st.fragment(run_every=...)`), so the page never flickers as a
whole and a widget keeps its state.
"""

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).parent / "views"

st.set_page_config(page_title="Pulse", page_icon="📈", layout="wide")
pages = [
    st.Page(VIEWS / "health.py", title="Pipeline health", icon="🩺", default=True),
    st.Page(VIEWS / "live.py", title="Live", icon="🏟️"),
    st.Page(VIEWS / "products.py", title="Products", icon="🛒"),
    st.Page(VIEWS / "media.py", title="Media", icon="🎬"),
    st.Page(VIEWS / "lake.py", title="Lake", icon="🗄️"),
]
st.navigation(pages).run()
