"""Lake: each Delta table's version, size, file count and latest commits."""

import streamlit as st

from pulse.dashboard import charts
from pulse.dashboard.connections import settings
from pulse.dashboard.notices import store_trouble
from pulse.reads import lake

conf = settings()
tables = lake.lake_tables(conf.lake.path, conf.topics)

st.title("Lake")
st.caption(f"The Delta tables under {conf.lake.path}, all written by the lake job.")


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def lake_state() -> None:
    with store_trouble():
        summary = lake.table_summary(tables)
        if summary.empty:
            st.info(
                f"No Delta table under {conf.lake.path} yet. The lake job writes bronze, silver, "
                "quarantine and product_history: `make run` starts it, or "
                "`./spark-submit.sh jobs/lake.py`."
            )
            return
        st.dataframe(summary, hide_index=True, width="stretch")
        st.altair_chart(
            charts.bars(summary, category="table", value="size_bytes", title="Size per table"),
            width="stretch",
        )
        name = st.selectbox("Commits of", summary["table"].tolist(), key="table")
        path = next(t.path for t in tables if t.name == name)
        st.dataframe(lake.commits(path), hide_index=True, width="stretch")


lake_state()
