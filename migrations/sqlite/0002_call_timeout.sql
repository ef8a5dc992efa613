-- Each claim records how long its sender waits for RMS's answer to one call (its upstream
-- timeout, in milliseconds): a call sent just before its sender died may be acted on by RMS
-- for that long. A proxy starting alone reads no claim left `sending` by an earlier one
-- back before the longest of these has passed since its start, whatever its own timeout.
-- Rows from before this column take 30 s, the proxy's default upstream timeout.
ALTER TABLE rms_preflight_ledger ADD COLUMN call_timeout_ms INTEGER NOT NULL DEFAULT 30000;
