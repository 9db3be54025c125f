-- Run on the PRIMARY from your monitoring (every minute). It warns before the replication slot
-- of the real-time archive fills the primary's disk: a slot keeps every WAL segment its consumer
-- (pg_receivewal) has not received yet, so a stopped pg_receivewal makes pg_wal grow without limit.
-- Set max_slot_wal_keep_size (PostgreSQL 13+) to cap it: past the cap the slot is invalidated
-- ("lost") instead of the disk filling, and the real-time archive must be re-seeded.
SELECT slot_name,
       active,                                          -- false: pg_receivewal is not connected
       wal_status,                                      -- reserved | extended: fine; unreserved: about to be lost; lost: re-seed
       pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS retained,
       pg_size_pretty(safe_wal_size)                    AS room_before_lost,  -- NULL when max_slot_wal_keep_size = -1 (no cap)
       CASE
         WHEN wal_status IN ('unreserved', 'lost') THEN 'CRITICAL'
         WHEN NOT active THEN 'WARNING'
         WHEN safe_wal_size IS NOT NULL AND safe_wal_size < 1024 * 1024 * 1024 THEN 'WARNING'  -- under 1 GiB of room left
         WHEN pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) > 10::bigint * 1024 * 1024 * 1024 THEN 'WARNING' -- over 10 GiB held back
         ELSE 'OK'
       END AS state
FROM pg_replication_slots
WHERE slot_name = 'walwait_archive';
