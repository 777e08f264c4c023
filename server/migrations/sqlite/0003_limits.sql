-- Relay limits (issue 10). Who created a space, so the spaces one device creates can be
-- capped (spaces made before this step have no recorded creator and don't count); a
-- space's stored bytes count its snapshot as well as its log; expired invites are purged
-- by their expiry.
ALTER TABLE spaces ADD COLUMN created_by BLOB;
CREATE INDEX spaces_created_by ON spaces(created_by);
UPDATE spaces SET bytes = bytes
    + coalesce((SELECT length(data) FROM snapshots WHERE snapshots.space = spaces.id), 0);
CREATE INDEX invites_expires_at ON invites(expires_at);
