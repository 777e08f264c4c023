-- Membership that holds when a relationship changes (issue 8).
-- Every device acts for a person: devices linked through one personal space share it, and
-- removing a member from a journal removes all of that person's devices at once. Devices
-- registered before this step each act for themselves.
ALTER TABLE devices ADD COLUMN person BLOB;
UPDATE devices SET person = id;
CREATE INDEX devices_person ON devices(person);

-- Journals admit two people; a personal space only its person's devices. Spaces made before
-- this step are taken for journals. `key_epoch` is the highest key epoch appended so far:
-- a blob sealed under an older one is refused.
ALTER TABLE spaces ADD COLUMN kind TEXT NOT NULL DEFAULT 'journal'
    CHECK (kind IN ('journal', 'personal'));
ALTER TABLE spaces ADD COLUMN key_epoch INTEGER NOT NULL DEFAULT 0;

-- Whom an invite admits: a partner (a new person) or a device of the inviter's person.
ALTER TABLE invites ADD COLUMN kind TEXT NOT NULL DEFAULT 'partner'
    CHECK (kind IN ('partner', 'device'));
CREATE INDEX invites_space ON invites(space);
CREATE INDEX invites_created_by ON invites(created_by);
