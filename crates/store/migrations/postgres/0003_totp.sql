-- Second factor (RFC 6238 TOTP): the base32 secret once enrolled, and the
-- last step a code was accepted for, so a code works only once.
ALTER TABLE credentials ADD COLUMN totp_secret TEXT;
ALTER TABLE credentials ADD COLUMN totp_last_step BIGINT;
