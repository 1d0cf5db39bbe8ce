-- Runs once, on the first start of an empty data directory (docker-entrypoint-initdb.d), in POSTGRES_DB.
create schema if not exists inventory;
