-- A run's backlog is claimed only once its slice is complete (runs.slice_completed_at
-- set), and the slice is now marked complete when its last slice step closes, or when a
-- run opens with no slice step at all. Runs started before this rule whose slice has no
-- open step are marked here, so that their backlog is not held forever.
UPDATE runs SET slice_completed_at = updated_at
WHERE status = 'running'
  AND slice_completed_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM steps
      WHERE steps.run_id = runs.id
        AND steps.priority = 0
        AND steps.status IN ('pending', 'leased')
  );
