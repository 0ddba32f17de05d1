# Keycloak in production mode: the build-time options baked in once (`kc.sh build`), so that
# `start --optimized` starts in seconds. The tag must equal KEYCLOAK_VERSION in
# src/stack/keycloak-server.ts (a test checks it).
FROM quay.io/keycloak/keycloak:26.7.3 AS builder
ENV KC_DB=postgres \
    KC_HEALTH_ENABLED=true \
    KC_METRICS_ENABLED=true
RUN /opt/keycloak/bin/kc.sh build

FROM quay.io/keycloak/keycloak:26.7.3
COPY --from=builder /opt/keycloak/ /opt/keycloak/
ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]
