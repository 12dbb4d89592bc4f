-- firstweek: database, schema and roles. Idempotent: safe to run again (it resets the passwords).
--
-- Run as a superuser (or a role with CREATEROLE and CREATEDB), psql 15 or newer:
--   psql -v ON_ERROR_STOP=1 -d postgres \
--        -v scheduler_password=... -v worker_password=... -v readonly_password=... -v web_password=... \
--        -f deploy/postgres/roles.sql
-- A password not given with -v is read from the environment: FIRSTWEEK_SCHEDULER_DB_PASSWORD,
-- FIRSTWEEK_WORKER_DB_PASSWORD, FIRSTWEEK_READONLY_DB_PASSWORD, FIRSTWEEK_WEB_DB_PASSWORD (how
-- compose.yaml runs it).
--
-- Run it again after the services' first start (and after an upgrade whose migrations add a table
-- firstweek-web uses): firstweek_web is granted each of its tables only once the table exists.
--
-- Roles:
--   firstweek_owner      NOLOGIN; owns schema `firstweek` and every table the migrations create
--   firstweek_scheduler  LOGIN, member of firstweek_owner; sessions run as firstweek_owner
--   firstweek_worker     LOGIN, member of firstweek_owner; sessions run as firstweek_owner
--   firstweek_readonly   LOGIN, SELECT only, read-only transactions (operator CLI, dashboards)
--   firstweek_web        LOGIN, firstweek-web: reads the pairs, marks links used, acknowledges
--                        and closes escalations, records unsubscribes, writes announcements to
--                        the outbox; nothing else
-- Both services run the sqlx migrations at start-up; because both sessions `SET ROLE firstweek_owner`
-- (per-role setting below), a table created by either is owned by firstweek_owner and usable by both.

\set ON_ERROR_STOP on

\if :{?scheduler_password}
\else
\getenv scheduler_password FIRSTWEEK_SCHEDULER_DB_PASSWORD
\endif
\if :{?worker_password}
\else
\getenv worker_password FIRSTWEEK_WORKER_DB_PASSWORD
\endif
\if :{?readonly_password}
\else
\getenv readonly_password FIRSTWEEK_READONLY_DB_PASSWORD
\endif
\if :{?web_password}
\else
\getenv web_password FIRSTWEEK_WEB_DB_PASSWORD
\endif
SELECT :{?scheduler_password} AND :{?worker_password} AND :{?readonly_password} AND :{?web_password} AS passwords_given \gset
\if :passwords_given
\else
\warn 'roles.sql: set scheduler_password, worker_password, readonly_password and web_password (psql -v or FIRSTWEEK_*_DB_PASSWORD)'
DO $$ BEGIN RAISE EXCEPTION 'firstweek roles.sql: missing password'; END $$;
\endif

-- Roles (cluster-wide).
SELECT 'CREATE ROLE firstweek_owner NOLOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'firstweek_owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', r)
  FROM unnest(ARRAY['firstweek_scheduler', 'firstweek_worker', 'firstweek_readonly', 'firstweek_web']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE firstweek_scheduler LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'scheduler_password';
ALTER ROLE firstweek_worker    LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'worker_password';
ALTER ROLE firstweek_readonly  LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'readonly_password';
ALTER ROLE firstweek_web       LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'web_password';
GRANT firstweek_owner TO firstweek_scheduler, firstweek_worker;

-- The database stays owned by the administrator: the services get CONNECT, not ownership.
SELECT 'CREATE DATABASE firstweek'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'firstweek') \gexec
REVOKE ALL ON DATABASE firstweek FROM PUBLIC;
GRANT CONNECT ON DATABASE firstweek TO firstweek_scheduler, firstweek_worker, firstweek_readonly, firstweek_web;

\connect firstweek
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA IF NOT EXISTS firstweek AUTHORIZATION firstweek_owner;
REVOKE ALL ON SCHEMA firstweek FROM PUBLIC;
GRANT USAGE ON SCHEMA firstweek TO firstweek_readonly, firstweek_web;

ALTER ROLE firstweek_scheduler IN DATABASE firstweek SET role = 'firstweek_owner';
ALTER ROLE firstweek_scheduler IN DATABASE firstweek SET search_path = firstweek;
ALTER ROLE firstweek_worker    IN DATABASE firstweek SET role = 'firstweek_owner';
ALTER ROLE firstweek_worker    IN DATABASE firstweek SET search_path = firstweek;
ALTER ROLE firstweek_readonly  IN DATABASE firstweek SET search_path = firstweek;
ALTER ROLE firstweek_readonly  IN DATABASE firstweek SET default_transaction_read_only = on;
ALTER ROLE firstweek_web       IN DATABASE firstweek SET search_path = firstweek;

-- Read access to the tables that exist now and to every table the migrations create later.
GRANT SELECT ON ALL TABLES IN SCHEMA firstweek TO firstweek_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE firstweek_owner IN SCHEMA firstweek
  GRANT SELECT ON TABLES TO firstweek_readonly;

-- firstweek-web: not a member of firstweek_owner, so it can create, alter and drop nothing and
-- cannot run the migrations (it waits for them, reading _sqlx_migrations). Default privileges
-- cannot name single tables, and this script first runs before the migrations create any: so
-- each grant below is made for the tables that exist now, and a run after the migrations makes
-- the rest (compose's db-grants service does; see deploy/README.md). Sequences of its INSERTs
-- need USAGE too.
SELECT format('GRANT %s ON TABLE firstweek.%I TO firstweek_web', g.privileges, g.tbl)
  FROM (VALUES
          ('_sqlx_migrations', 'SELECT'),
          ('mentorships',      'SELECT'),
          ('interactions',     'SELECT'),
          ('deliveries',       'SELECT'),
          -- withdrawing an escalation's reminder when the coordinator acknowledges or closes it
          ('timeline',         'SELECT, UPDATE (status, outcome, next_at, finished_at)'),
          ('links',            'SELECT, UPDATE (used_at)'),
          ('escalations',      'SELECT, UPDATE'),
          -- announcements; an answer link's event is looked up by id, nothing else is read
          ('outbox',           'SELECT (event_id), INSERT'),
          ('unsubscribed',     'SELECT, INSERT'),
          -- which sides carry an erased person's placeholder (they get no email)
          ('erasures',         'SELECT (placeholder_id, placeholder_email)'),
          -- the outcome chart on the coordinator's page
          ('outcomes',         'SELECT')
       ) AS g(tbl, privileges)
 WHERE to_regclass(format('firstweek.%I', g.tbl)) IS NOT NULL \gexec
SELECT 'GRANT USAGE ON SEQUENCE firstweek.outbox_id_seq TO firstweek_web'
 WHERE to_regclass('firstweek.outbox_id_seq') IS NOT NULL \gexec
