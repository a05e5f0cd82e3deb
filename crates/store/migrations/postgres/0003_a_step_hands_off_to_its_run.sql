-- A committing step leases its run's next due steps in the dispatcher's order (slice
-- first, then by due time and age): the run's open steps are indexed in that order, so
-- the hand-off reads the first few entries instead of sorting the run's backlog. The
-- slice check (`priority = 0`, any open status) uses the same index's prefix.
DROP INDEX steps_open_of_run;
CREATE INDEX steps_open_of_run ON steps (run_id, priority, not_before, id)
    WHERE status IN ('pending', 'leased');
