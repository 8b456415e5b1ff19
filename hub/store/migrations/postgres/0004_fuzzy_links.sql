-- Fuzzy links: scored pairs of customer records sharing a blocking key,
-- recomputed whenever either record changes, so they are a function of the
-- records. Auto links merge; the others are review candidates. Blocking
-- keys themselves are not followed when re-clustering, so a common name
-- never pulls a large part of the store into one resolution.
CREATE TABLE fuzzy_links (
    a     TEXT NOT NULL,
    b     TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    auto  INTEGER NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX fuzzy_links_b ON fuzzy_links (b);
