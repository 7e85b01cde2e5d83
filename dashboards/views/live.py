"""Live: every match's scoreboard, its top emojis now, and the emoji trend over the window."""

import streamlit as st

from pulse.dashboard import charts
from pulse.dashboard.connections import postgres, redis, settings
from pulse.dashboard.notices import nothing_yet, store_trouble
from pulse.reads import live
from pulse.reads.sources import since

conf = settings()
minutes = conf.dashboard.window_minutes
ALL = "all matches"

st.title("Live")
st.caption(
    "Scoreboards and top emojis as viewers see them now (Redis match:<id>, emoji:<id>), emoji "
    f"counts per {conf.emoji.window_seconds:g}-second window over the last {minutes} minutes "
    "(PostgreSQL emoji_windows); all written by the live job."
)


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def matches() -> None:
    chosen = None
    with store_trouble():
        keys = redis(conf.redis)
        boards = live.scoreboards(keys)
        top = live.top_emojis(keys)
        if boards.empty:
            nothing_yet("scoreboards", "live")
        else:
            st.subheader(f"Scoreboards: {len(boards)} matches")
            st.dataframe(boards, hide_index=True, width="stretch", height=240)
        ids = sorted(set(boards["match_id"].dropna()) | set(top["match_id"].dropna()))
        chosen = st.selectbox("Match", [ALL, *ids], key="match")
        shown = top if chosen == ALL else top[top["match_id"] == chosen]
        if shown.empty:
            nothing_yet("top emojis", "live")
        else:
            st.altair_chart(
                charts.bars(shown, category="emoji", value="count", series="match_id",
                            title="Top emojis, latest window"),
                width="stretch",
            )  # fmt: skip
    with store_trouble():
        trend = live.emoji_trend(
            postgres(conf.postgres), since(minutes), None if chosen in (None, ALL) else chosen
        )
        if trend.empty:
            nothing_yet("emoji windows", "live", minutes)
        else:
            st.altair_chart(
                charts.lines(trend, x="window_start", y="count", series="emoji",
                             title=f"Emoji per window: {chosen or ALL}", y_title="emojis"),
                width="stretch",
            )  # fmt: skip


matches()
