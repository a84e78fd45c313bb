package io.llmcluster.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import io.llmcluster.worker.backend.KvCacheDtype;
import org.junit.jupiter.api.Test;

/** {@code llmcluster.worker.kv-cache-dtype}: auto by default, int8 when set, a clear error otherwise. */
class NodeSettingsKvDtypeTest {
    private static NodeSettings with(String line) {
        return NodeSettings.from(ConfigFactory.parseString(line).withFallback(ConfigFactory.load()).resolve());
    }

    @Test
    void shouldDefaultToAutoAndReadInt8() {
        assertEquals(KvCacheDtype.AUTO, NodeSettings.from(ConfigFactory.load()).cpu().kvCacheDtype());
        assertEquals(KvCacheDtype.INT8, with("llmcluster.worker.kv-cache-dtype = int8").cpu().kvCacheDtype());
        assertEquals(KvCacheDtype.INT8, with("llmcluster.worker.kv-cache-dtype = INT8").cpu().kvCacheDtype());
    }

    @Test
    void shouldNameTheKeyWhenTheValueIsNotSupported() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> with("llmcluster.worker.kv-cache-dtype = fp8"));
        assertEquals("llmcluster.worker.kv-cache-dtype 'fp8' is not supported: use auto (the model's run dtype) or int8",
                e.getMessage());
    }
}
