-- Included by pg_regress tests (\i test/include/error_of.sql): runs a
-- command and shows its error with what varies between runs masked: the
-- name of this session's own consumer (it holds the pid) and ledger ids in
-- message ids.
CREATE FUNCTION pg_temp.error_of(command text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
	state text;
	message text;
	detail text;
	hint text;
BEGIN
	EXECUTE command;
	RETURN NEXT 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
		detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	message = regexp_replace(message, 'session-[0-9]+-[0-9]+', 'session-<pid>-<start>', 'g');
	message = regexp_replace(message, '(^|[^0-9-])[0-9]+:(-?[0-9]+):(-?[0-9]+)', '\1L:\2:\3', 'g');
	RETURN NEXT 'ERROR ' || state || ': ' || message;
	IF detail <> '' THEN
		RETURN NEXT 'DETAIL: ' || detail;
	END IF;
	IF hint <> '' THEN
		RETURN NEXT 'HINT: ' || hint;
	END IF;
END
$$;
