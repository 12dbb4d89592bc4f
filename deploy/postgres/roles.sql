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
--   firstweek_web        LOGIN, firstweek-web: reads what its pages show; acts (acknowledge,
--                        resolve, answer, unsubscribe) only through database functions keyed by
--                        a link token's hash; writes no table itself
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
-- cannot run the migrations (it waits for them, reading _sqlx_migrations). It writes no table
-- itself: each thing a link allows (acknowledge, resolve, answer, unsubscribe) is a database
-- function keyed by the link token's hash, owned by firstweek_owner and run as it (SECURITY
-- DEFINER, search_path pinned), which checks the link before it acts; it reads only what its pages
-- show, and links only through such a function. firstweek_grant_web (migration
-- 20261207000300_web_functions.sql) grants exactly that and takes back anything else the role held
-- (the test suite grants its own role with the same function). The function exists once the
-- migrations ran: this script first runs before them and grants the web nothing then; the run
-- after the migrations does (compose's db-grants service; see deploy/README.md).
SELECT 'SELECT firstweek.firstweek_grant_web(''firstweek_web'')'
 WHERE to_regprocedure('firstweek.firstweek_grant_web(name)') IS NOT NULL \gexec
