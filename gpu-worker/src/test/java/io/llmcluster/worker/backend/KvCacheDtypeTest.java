package io.llmcluster.worker.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.HashExtra;
import org.junit.jupiter.api.Test;

class KvCacheDtypeTest {
    @Test
    void shouldParseAutoAndInt8InAnyCase() {
        assertEquals(KvCacheDtype.AUTO, KvCacheDtype.parse("auto"));
        assertEquals(KvCacheDtype.INT8, KvCacheDtype.parse("int8"));
        assertEquals(KvCacheDtype.INT8, KvCacheDtype.parse(" INT8 "));
        assertEquals("auto", KvCacheDtype.AUTO.configName());
        assertEquals("int8", KvCacheDtype.INT8.configName());
    }

    @Test
    void shouldRefuseOtherValuesNamingTheAcceptedOnes() {
        for (String bad : new String[] {"fp8", "fp16", "", "int4"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvCacheDtype.parse(bad));
            assertEquals("kv-cache-dtype '" + bad + "' is not supported: use auto (the model's run dtype) or int8",
                    e.getMessage());
        }
        assertEquals("kv-cache-dtype 'null' is not supported: use auto (the model's run dtype) or int8",
                assertThrows(IllegalArgumentException.class, () -> KvCacheDtype.parse(null)).getMessage());
    }

    @Test
    void shouldKeepTheUnquantizedHashNameAndGiveInt8BlocksHashesOfTheirOwn() {
        assertEquals("fp32", KvCacheDtype.AUTO.hashName());
        assertEquals("int8", KvCacheDtype.INT8.hashName());
        int[] tokens = new int[64];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 7 * i + 3;
        }
        long[] auto = new BlockHasher(HashExtra.base("m", KvCacheDtype.AUTO.hashName()), 16).hashFullBlocks(tokens);
        long[] same = new BlockHasher(HashExtra.base("m", "fp32"), 16).hashFullBlocks(tokens);
        long[] int8 = new BlockHasher(HashExtra.base("m", KvCacheDtype.INT8.hashName()), 16).hashFullBlocks(tokens);
        assertEquals(4, auto.length);
        for (int b = 0; b < 4; b++) {
            assertEquals(same[b], auto[b], "auto keeps the existing hashes");
            for (long h : auto) {
                assertNotEquals(h, int8[b], "an INT8 block shares a hash with an unquantized one");
            }
        }
    }
}
