-- Chat routes (issue 29): a program's coordinators' escalations (and,
-- when `digest`, their daily digests) are also posted to a Slack incoming
-- webhook or a Microsoft Teams workflow webhook; `instead_of_email` sends
-- no email while a post succeeds. The URL is the webhook's only secret: it
-- lives here (operators add it with `firstweek chat add`), never in a
-- playbook file; the web role is granted nothing of this table
-- (`firstweek_grant_web` grants a fixed list of tables).
CREATE TABLE chat_routes (
    id               BIGSERIAL PRIMARY KEY,
    program_id       TEXT NOT NULL,
    platform         TEXT NOT NULL CONSTRAINT chat_routes_platform_known CHECK (platform IN ('slack', 'teams')),
    url              TEXT NOT NULL CONSTRAINT chat_routes_url_https CHECK (url ~ '^https?://'),
    digest           BOOLEAN NOT NULL DEFAULT false,
    instead_of_email BOOLEAN NOT NULL DEFAULT false,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (program_id, platform, url)
);
CREATE INDEX chat_routes_program ON chat_routes (program_id);
