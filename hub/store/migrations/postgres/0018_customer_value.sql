-- Customer value figures (hub/value, docs/value.md), one row per active
-- golden customer, kept as records apply. figures is the whole JSON; the
-- columns are what lists filter and sort on in SQL. revenue_12m is the
-- base-currency revenue of the last 12 months in cents (exact, sortable);
-- last_order and the stage inputs let the refresh job re-derive stages as
-- days pass without reading the JSON.
CREATE TABLE customer_value (
    golden_id     TEXT PRIMARY KEY,
    as_of         TEXT NOT NULL,
    stage         TEXT NOT NULL,
    segment       TEXT NOT NULL DEFAULT '',
    rfm           TEXT NOT NULL DEFAULT '',
    abc           TEXT NOT NULL DEFAULT '',
    revenue_12m   BIGINT NOT NULL DEFAULT 0,
    orders        INTEGER NOT NULL DEFAULT 0,
    first_order   TEXT NOT NULL DEFAULT '',
    last_order    TEXT NOT NULL DEFAULT '',
    interval_days INTEGER NOT NULL DEFAULT 0,
    gap_before    INTEGER NOT NULL DEFAULT 0,
    lapsed_before INTEGER NOT NULL DEFAULT 0,
    figures       TEXT NOT NULL
);
CREATE INDEX customer_value_stage ON customer_value (stage, revenue_12m, golden_id);
CREATE INDEX customer_value_segment ON customer_value (segment, revenue_12m, golden_id);
CREATE INDEX customer_value_revenue ON customer_value (revenue_12m, golden_id);
CREATE INDEX customer_value_as_of ON customer_value (as_of);
-- Revenue totals over all customers by dimension (category, channel,
-- region, month) and currency, kept by delta as customers' figures
-- change, so the analytics read a few hundred rows at any size. Amounts
-- are exact decimal texts (added in Go: SQLite has no decimal type).
CREATE TABLE value_totals (
    dim       TEXT NOT NULL,
    dkey      TEXT NOT NULL,
    currency  TEXT NOT NULL,
    revenue   TEXT NOT NULL,
    customers BIGINT NOT NULL,
    PRIMARY KEY (dim, dkey, currency)
);
-- The RFM quintile and ABC cut points of the last refresh (one row), which
-- figures computed on apply are scored against.
CREATE TABLE value_breaks (
    id   INTEGER PRIMARY KEY,
    at   BIGINT NOT NULL,
    data TEXT NOT NULL
);
-- What waits for the deferred recompute (value.mode deferred): golden
-- ids (system '') and customer references of linked records (system,
-- source id), resolved to golden ids only when DrainValue recomputes them,
-- each once however many batches touched it meanwhile.
CREATE TABLE value_dirty (
    system TEXT NOT NULL,
    dkey   TEXT NOT NULL,
    PRIMARY KEY (system, dkey)
);
