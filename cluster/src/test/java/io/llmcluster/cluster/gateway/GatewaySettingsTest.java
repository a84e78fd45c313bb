package io.llmcluster.cluster.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class GatewaySettingsTest {
    @Test
    void shouldParseTheRouterNamesOfTheFlagAndTheConfig() {
        assertEquals(GatewaySettings.RouterKind.KV, GatewaySettings.RouterKind.parse("kv"));
        assertEquals(GatewaySettings.RouterKind.ROUND_ROBIN, GatewaySettings.RouterKind.parse(" Round-Robin "));
        assertEquals("round-robin", GatewaySettings.RouterKind.ROUND_ROBIN.configName());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GatewaySettings.RouterKind.parse("random"));
        assertEquals("router must be kv or round-robin, got \"random\"", e.getMessage());
    }

    @Test
    void shouldRefuseNonsenseLimits() {
        assertThrows(IllegalArgumentException.class,
                () -> new GatewaySettings(GatewaySettings.RouterKind.KV, -1, 0, 100, 0, 16));
        assertThrows(IllegalArgumentException.class,
                () -> new GatewaySettings(GatewaySettings.RouterKind.KV, 1, 0, 0, 0, 16));
    }
}
