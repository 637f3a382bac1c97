-- The shop's in-memory search index reads, every second on every instance, the courses whose
-- `updated_at` moved since its last read: by this index, not by reading the whole table.
CREATE INDEX courses_changes_by_time ON courses (updated_at);

-- Every change to a course moves its `updated_at`, whoever makes it (the shop, the seed, an operator
-- in psql): the index would otherwise never see a change made without it.
CREATE FUNCTION courses_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER courses_touch BEFORE UPDATE ON courses
    FOR EACH ROW EXECUTE FUNCTION courses_touch();
