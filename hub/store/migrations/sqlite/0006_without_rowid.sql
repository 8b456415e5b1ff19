-- Tables keyed by their primary key alone become WITHOUT ROWID: a rowid
-- table stores each row twice (the rowid b-tree and the primary key
-- index), so every match key, search value, fuzzy link and applied event
-- cost two b-tree inserts where one does. These are about a third of the
-- index writes of applying a customer record.
CREATE TABLE applied_events_new (
    event_id TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO applied_events_new (event_id) SELECT event_id FROM applied_events;
DROP TABLE applied_events;
ALTER TABLE applied_events_new RENAME TO applied_events;

CREATE TABLE match_keys_new (
    mkey TEXT NOT NULL,
    rkey TEXT NOT NULL,
    PRIMARY KEY (mkey, rkey)
) WITHOUT ROWID;
INSERT INTO match_keys_new (mkey, rkey) SELECT mkey, rkey FROM match_keys;
DROP TABLE match_keys;
ALTER TABLE match_keys_new RENAME TO match_keys;
CREATE INDEX match_keys_rkey ON match_keys (rkey);

CREATE TABLE golden_attrs_new (
    attr      TEXT NOT NULL,
    value     TEXT NOT NULL,
    golden_id TEXT NOT NULL,
    PRIMARY KEY (attr, value, golden_id)
) WITHOUT ROWID;
INSERT INTO golden_attrs_new (attr, value, golden_id) SELECT attr, value, golden_id FROM golden_attrs;
DROP TABLE golden_attrs;
ALTER TABLE golden_attrs_new RENAME TO golden_attrs;
CREATE INDEX golden_attrs_golden ON golden_attrs (golden_id);

CREATE TABLE fuzzy_links_new (
    a     TEXT NOT NULL,
    b     TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    auto  INTEGER NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
INSERT INTO fuzzy_links_new (a, b, score, auto) SELECT a, b, score, auto FROM fuzzy_links;
DROP TABLE fuzzy_links;
ALTER TABLE fuzzy_links_new RENAME TO fuzzy_links;
CREATE INDEX fuzzy_links_b ON fuzzy_links (b);

CREATE TABLE review_candidates_new (
    a     TEXT NOT NULL,
    b     TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (a, b)
) WITHOUT ROWID;
INSERT INTO review_candidates_new (a, b, score) SELECT a, b, score FROM review_candidates;
DROP TABLE review_candidates;
ALTER TABLE review_candidates_new RENAME TO review_candidates;
CREATE INDEX review_candidates_b ON review_candidates (b);
