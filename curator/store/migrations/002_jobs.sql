-- Jobs: a cancel request (the worker stops at its next check, and the supervisor escalates to
-- SIGTERM after a grace period) and an attempt counter (a retry re-runs the job in its work dir).
ALTER TABLE jobs ADD COLUMN cancel_requested_at TIMESTAMP;
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
