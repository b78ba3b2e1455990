-- Every credential check admitted, and every failure counted, takes the
-- next number of its user's sequence. A ticket remembers its number, so
-- "was anything admitted after this check?" no longer reads the failure
-- count, which releases of earlier checks lower (a success could then
-- erase a later failure and get past its lock).

-- +goose Up
ALTER TABLE users ADD COLUMN login_checks bigint NOT NULL DEFAULT 0;

-- +goose Down
-- Forward-only.
