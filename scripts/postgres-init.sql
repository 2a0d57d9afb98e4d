-- Roles, databases and extensions that DictaMesh expects on PostgreSQL.
--
-- One script, two users of it, so they cannot drift apart:
--   * docker-compose.yml mounts it into /docker-entrypoint-initdb.d/ (runs once, on an empty
--     volume, as the image's superuser);
--   * scripts/services.sh runs it on every `up` as the cluster's superuser over the local
--     socket, so it must be idempotent (it is: re-running it only re-asserts attributes).
-- It needs psql (it uses \gexec and \connect) and a superuser connection.
--
-- Row-level security separates tenants in the catalog (docs/tenancy.md, ADR 0004). A table's
-- owner can switch it off, so the role the application connects as must not own anything:
--
-- dictamesh_owner  owns the databases and the catalog's tables and runs the migrations
--                  (`dictamesh migrate up`, catalog.migration_url). LOGIN, NOT a superuser,
--                  no BYPASSRLS, no CREATEROLE/CREATEDB.
-- dictamesh_app    group role (NOLOGIN) the migrations grant row access to: SELECT, INSERT,
--                  UPDATE, DELETE on the catalog tables, nothing else.
-- dictamesh        the application role (catalog.url): LOGIN, member of dictamesh_app only,
--                  NOT a superuser, no BYPASSRLS, owns nothing in the catalog databases, so
--                  the policies always apply to it. CREATEDB only so tests can make scratch
--                  databases of their own.
-- dictamesh_admin  a superuser for tests and maintenance that need one.
-- All use the password "dictamesh" (development only).

\set ON_ERROR_STOP on

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh') THEN
    CREATE ROLE dictamesh;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh_owner') THEN
    CREATE ROLE dictamesh_owner;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh_app') THEN
    CREATE ROLE dictamesh_app;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'dictamesh_admin') THEN
    CREATE ROLE dictamesh_admin;
  END IF;
END
$$;

ALTER ROLE dictamesh WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD 'dictamesh';
ALTER ROLE dictamesh_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  NOBYPASSRLS PASSWORD 'dictamesh';
ALTER ROLE dictamesh_app WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  NOBYPASSRLS;
ALTER ROLE dictamesh_admin WITH LOGIN SUPERUSER CREATEDB CREATEROLE PASSWORD 'dictamesh';

GRANT dictamesh_app TO dictamesh;
-- The application must never be able to become the owner (SET ROLE dictamesh_owner).
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_auth_members
              WHERE roleid = 'dictamesh_owner'::regrole AND member = 'dictamesh'::regrole) THEN
    REVOKE dictamesh_owner FROM dictamesh;
  END IF;
END
$$;

-- CREATE DATABASE cannot run inside a DO block (or any transaction), hence \gexec.
SELECT 'CREATE DATABASE dictamesh OWNER dictamesh_owner'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'dictamesh')
\gexec
SELECT 'CREATE DATABASE dictamesh_test OWNER dictamesh_owner'
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'dictamesh_test')
\gexec
-- Since PostgreSQL 15 the owner of a database owns its public schema (pg_database_owner):
-- the owner creates the tables there; everyone else keeps only USAGE on it.
ALTER DATABASE dictamesh OWNER TO dictamesh_owner;
ALTER DATABASE dictamesh_test OWNER TO dictamesh_owner;

-- In each database: the extensions (installed by the superuser, so the migrations only use
-- them), and the catalog objects an older setup let the application role create handed over
-- to the owner (a no-op once done). Owner privileges go with them: the application keeps
-- what migration 0004 grants dictamesh_app (run `dictamesh migrate up` as the owner).
-- psql has no loop over databases: \gset keeps these statements in the variable
-- :per_database, which each \connect below runs.
SELECT $per_database$
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;
-- pgvector (semantic search, docs/search.md) is not a trusted extension: only a superuser
-- creates it, so the owner's migration 0012 finds it here.
CREATE EXTENSION IF NOT EXISTS vector;
DO $$
DECLARE
  stmt text;
BEGIN
  FOR stmt IN
    SELECT format('ALTER TABLE %I.%I OWNER TO dictamesh_owner', schemaname, tablename)
      FROM pg_catalog.pg_tables
     WHERE tableowner = 'dictamesh' AND tablename LIKE 'dictamesh\_%'
    UNION ALL
    SELECT format('ALTER FUNCTION %s OWNER TO dictamesh_owner', p.oid::regprocedure)
      FROM pg_catalog.pg_proc AS p
     WHERE p.proowner = 'dictamesh'::regrole AND p.proname LIKE 'dictamesh\_%'
  LOOP
    EXECUTE stmt;
  END LOOP;
END
$$;
$per_database$ AS per_database
\gset

\connect dictamesh
:per_database

\connect dictamesh_test
:per_database

-- Databases made later (tests' scratch databases, a tenant's) copy template1: give them
-- pgvector too.
\connect template1
CREATE EXTENSION IF NOT EXISTS vector;
