-- Roles, databases and extensions that DictaMesh expects on PostgreSQL.
--
-- One script, two users of it, so they cannot drift apart:
--   * docker-compose.yml mounts it into /docker-entrypoint-initdb.d/ (runs once, on an empty
--     volume, as the image's superuser);
--   * scripts/services.sh runs it on every `up` as the cluster's superuser over the local
--     socket, so it must be idempotent (it is: re-running it only re-asserts attributes).
-- It needs psql (it uses \gexec and \connect) and a superuser connection.
--
-- dictamesh        the application role: LOGIN, CREATEDB, deliberately NOT a superuser and
--                  without BYPASSRLS, so row-level security policies apply to it.
-- dictamesh_admin  a superuser for migrations/tests that need one.
-- Both use the password "dictamesh" (development only).

\set ON_ERROR_STOP on

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh') THEN
    CREATE ROLE dictamesh;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh_admin') THEN
    CREATE ROLE dictamesh_admin;
  END IF;
END
$$;

ALTER ROLE dictamesh WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD 'dictamesh';
ALTER ROLE dictamesh_admin WITH LOGIN SUPERUSER CREATEDB CREATEROLE PASSWORD 'dictamesh';

-- CREATE DATABASE cannot run inside a DO block (or any transaction), hence \gexec.
SELECT 'CREATE DATABASE dictamesh OWNER dictamesh'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'dictamesh')
\gexec
SELECT 'CREATE DATABASE dictamesh_test OWNER dictamesh'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'dictamesh_test')
\gexec
ALTER DATABASE dictamesh OWNER TO dictamesh;
ALTER DATABASE dictamesh_test OWNER TO dictamesh;

-- pg_trgm backs the catalog's fuzzy search. Installed by the superuser so the app role only
-- needs to use it. Since PostgreSQL 15 the owner of a new database owns its public schema
-- (pg_database_owner), so dictamesh can create its tables there.
\connect dictamesh
CREATE EXTENSION IF NOT EXISTS pg_trgm;

\connect dictamesh_test
CREATE EXTENSION IF NOT EXISTS pg_trgm;
