-- Steward decisions about two source records (a < b); they override
-- matching and survive re-processing.
CREATE TABLE identity_rules (
    a      TEXT NOT NULL,
    b      TEXT NOT NULL,
    kind   TEXT NOT NULL,                    -- force_merge | never_merge
    actor  TEXT NOT NULL,
    reason TEXT NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX identity_rules_b ON identity_rules (b);

-- Pairs the fuzzy scorer found similar but not enough to merge.
CREATE TABLE review_candidates (
    a     TEXT NOT NULL,
    b     TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX review_candidates_b ON review_candidates (b);

-- Who did what to which golden customer, when and why.
CREATE TABLE audit_log (
    id      TEXT NOT NULL,
    subject TEXT NOT NULL,                   -- a golden id the action touched
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    reason  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    PRIMARY KEY (subject, id)
);
