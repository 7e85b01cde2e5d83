"""Products: the catalogue's change rate, and the processing status of each change event,
searchable by product (the monitoring view of the product seed)."""

import streamlit as st

from pulse.dashboard import charts
from pulse.dashboard.connections import mysql, postgres, settings
from pulse.dashboard.notices import nothing_yet, store_trouble
from pulse.reads import products
from pulse.reads.lake import lake_tables
from pulse.reads.sources import since

conf = settings()
minutes = conf.dashboard.window_minutes
history = next(t for t in lake_tables(conf.lake.path, conf.topics) if t.name == "product_history")
BUCKET_SECONDS = 10

st.title("Products")
st.caption(
    "Changes from the API and from change data capture (Delta product_history, lake job); "
    "each change event's acknowledgements (PostgreSQL event_acks, monitor job): published by "
    "the ingest API, processed into the catalogue (MySQL products)."
)
product_id = st.text_input("Find a product", placeholder="product id, e.g. sku-1-00042").strip()


@st.fragment(run_every=conf.dashboard.refresh_seconds)
def catalogue() -> None:
    with store_trouble():
        rate = products.change_rate(history.path, since(minutes), BUCKET_SECONDS)
        if rate.empty:
            nothing_yet("product changes", "enrich", minutes)
        else:
            st.altair_chart(
                charts.stacked_areas(rate, x="bucket", y="changes", series="source",
                                     title=f"Changes per {BUCKET_SECONDS} s",
                                     y_title="changes"),
                width="stretch",
            )  # fmt: skip
    if product_id:
        one_product(product_id)
    else:
        recent_events()


def recent_events() -> None:
    with store_trouble():
        pg = postgres(conf.postgres)
        start = since(minutes)
        counts = products.status_counts(pg, conf.topics.product.name, start)
        status = products.event_status(products.recent_acks(pg, conf.topics.product.name, start))
        if status.empty:
            nothing_yet("acknowledgements of product events", "monitor", minutes)
            return
        cells = st.columns(2)
        for cell, (label, count) in zip(cells, counts.items(), strict=True):
            cell.metric(label, f"{count:,}")
        st.subheader("Latest change events")
        st.dataframe(status.head(200), hide_index=True, width="stretch")


def one_product(wanted: str) -> None:
    with store_trouble():
        row = products.catalog_row(mysql(conf.mysql), wanted)
        st.subheader(f"Catalogue: {wanted}")
        if row.empty:
            st.warning(f"No product {wanted!r} in the catalogue (MySQL products).")
        else:
            st.dataframe(row, hide_index=True, width="stretch")
    with store_trouble():
        changes = products.product_changes(history.path, wanted)
        if changes.empty:
            st.info(f"No change of {wanted!r} in the product history yet.")
            return
        status = products.event_status(
            products.acks_of(postgres(conf.postgres), changes["change_id"].tolist())
        )
        merged = changes.merge(status, how="left", left_on="change_id", right_on="event_id")
        st.subheader(f"Its changes: {len(merged)}")
        st.dataframe(merged.drop(columns=["event_id"]), hide_index=True, width="stretch")


catalogue()
