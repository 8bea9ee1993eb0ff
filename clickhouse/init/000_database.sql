-- The project database: every table, materialized view and view of the pipeline lives here.
CREATE DATABASE IF NOT EXISTS crypto;
