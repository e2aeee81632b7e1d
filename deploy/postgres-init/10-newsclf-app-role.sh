#!/bin/sh
# Runs once, when the postgres container initializes an empty data volume (as the
# superuser, whose password is for postgres itself only). It creates the role the
# application connects as (APP_DB_USER, default newsclf): it logs in and owns the
# database POSTGRES_DB, so `newsclf db upgrade` creates (and owns) the tables, and
# it is no superuser and cannot create roles or databases.
set -eu
: "${APP_DB_PASSWORD:?set NEWSCLF_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
     --dbname "$POSTGRES_DB" -v app_user="${APP_DB_USER:-newsclf}" \
     -v app_password="$APP_DB_PASSWORD" -v app_db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD :'app_password';
ALTER DATABASE :"app_db" OWNER TO :"app_user";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
