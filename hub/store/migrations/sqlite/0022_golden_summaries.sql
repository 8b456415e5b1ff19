-- What a search page shows of each active golden customer (the API's
-- summary view), kept beside the golden record and written in the same
-- transaction: a page of 50 by name read 50 golden rows (record and
-- lineage, often over a page each) and decoded 50 whole records, where a
-- summary row is a few hundred bytes read as plain columns. Only active
-- customers have a row, so a search needs no status check. Empty text,
-- never NULL, for a missing value.
CREATE TABLE golden_summaries (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    given_name        TEXT NOT NULL,
    family_name       TEXT NOT NULL,
    full_name         TEXT NOT NULL,
    organization_name TEXT NOT NULL,
    email             TEXT NOT NULL,
    phone             TEXT NOT NULL,
    postal_code       TEXT NOT NULL,
    city              TEXT NOT NULL,
    country           TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
) WITHOUT ROWID;

-- Back-fill from the stored golden records, the same fields summaryOf
-- (hub/store/summary.go) takes: the first e-mail, phone and address.
INSERT INTO golden_summaries (id, kind, given_name, family_name, full_name, organization_name, email, phone, postal_code, city, country, created_at, updated_at)
SELECT id,
    COALESCE(json_extract(data, '$.kind'), ''),
    COALESCE(json_extract(data, '$.given_name'), ''),
    COALESCE(json_extract(data, '$.family_name'), ''),
    COALESCE(json_extract(data, '$.full_name'), ''),
    COALESCE(json_extract(data, '$.organization_name'), ''),
    COALESCE(json_extract(data, '$.emails[0]'), ''),
    COALESCE(json_extract(data, '$.phones[0]'), ''),
    COALESCE(json_extract(data, '$.addresses[0].postal_code'), ''),
    COALESCE(json_extract(data, '$.addresses[0].city'), ''),
    COALESCE(json_extract(data, '$.addresses[0].country'), ''),
    created_at, updated_at
FROM goldens WHERE status = 'active';
