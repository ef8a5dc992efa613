-- The ledger table again, with its state CHECK written as comparisons.
--
-- 0001 wrote it `CHECK (state IN ('sending', 'confirmed', 'failed', 'unknown'))`. SQLite
-- evaluates such a list by building a temporary table of its four strings, again for every
-- row a statement writes: it was more than half of a claim of a hundred orders, and a third
-- of their mark. The same constraint written as comparisons costs nothing. SQLite cannot
-- change a CHECK in place, so the table is rebuilt (its documented procedure for such a
-- change: a new table, the rows copied as they are, the old one dropped, the new one
-- renamed), in the one transaction every migration runs in. Its rows, columns, keys and
-- the partial index of `unknown` rows are as they were; `rms_preflight_inflight` is not
-- touched. The copy takes time in proportion to the ledger, once.
CREATE TABLE rms_preflight_ledger_v4 (
    shop            TEXT    NOT NULL,
    order_number    TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    state           TEXT    NOT NULL
                    CHECK (state = 'sending' OR state = 'confirmed' OR state = 'failed'
                           OR state = 'unknown'),
    error           TEXT    CHECK (state <> 'failed' OR error IS NOT NULL),
    attempts        INTEGER NOT NULL CHECK (attempts >= 1),
    token           INTEGER NOT NULL,
    claimed_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    call_timeout_ms INTEGER NOT NULL DEFAULT 30000,
    PRIMARY KEY (shop, order_number, action)
) WITHOUT ROWID;

INSERT INTO rms_preflight_ledger_v4
    (shop, order_number, action, state, error, attempts, token, claimed_at_ms,
     updated_at_ms, call_timeout_ms)
SELECT shop, order_number, action, state, error, attempts, token, claimed_at_ms,
       updated_at_ms, call_timeout_ms
FROM rms_preflight_ledger;

-- Drops rms_preflight_ledger_unknown with it.
DROP TABLE rms_preflight_ledger;

ALTER TABLE rms_preflight_ledger_v4 RENAME TO rms_preflight_ledger;

CREATE INDEX rms_preflight_ledger_unknown ON rms_preflight_ledger (shop, order_number, action)
    WHERE state = 'unknown';
