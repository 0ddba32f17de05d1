-- Keycloak's database, beside the gateway's (iam_gateway), owned by the same role.
create database keycloak owner iam;
