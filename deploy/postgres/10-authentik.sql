-- Runs once, when the PostgreSQL volume is first initialised: a database for the optional Authentik profile
-- (docker compose --profile oidc). Quizhub's own database, quizhub, is created by the image from POSTGRES_DB.
CREATE DATABASE authentik OWNER quizhub;
