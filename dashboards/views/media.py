"""Media: enriched events over time by quality tier, device class or user segment."""

import streamlit as st

from pulse.dashboard import charts
from pulse.dashboard.connections import postgres, settings
from pulse.dashboard.notices import nothing_yet, store_trouble
from pulse.reads import media
from pulse.reads.sources import since

conf = settings()
minutes = conf.dashboard.window_minutes
BUCKET_SECONDS = 10

st.title("Media")
st.caption(
    f"Enriched multimedia events of the last {minutes} minutes by event time, per "
    f"{BUCKET_SECONDS} s (PostgreSQL events, enrich job)."
)
dimension = st.radio("Split by", list(media.DIMENSIONS), horizontal=True)


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def events() -> None:
    with store_trouble():
        pg = postgres(conf.postgres)
        start = since(minutes)
        split = media.media_over_time(pg, dimension, start, BUCKET_SECONDS)
        if split.empty:
            nothing_yet("enriched media events", "enrich", minutes)
            return
        st.altair_chart(
            charts.stacked_areas(split, x="bucket", y="events", series="value",
                                 title=f"Events by {dimension}", y_title="events"),
            width="stretch",
        )  # fmt: skip
        st.dataframe(media.media_totals(pg, start), hide_index=True, width="stretch")


events()
