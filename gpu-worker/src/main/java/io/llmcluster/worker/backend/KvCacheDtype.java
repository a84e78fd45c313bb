package io.llmcluster.worker.backend;

import java.util.Locale;

/**
 * What the KV cache stores ({@code --kv-cache-dtype}, {@code llmcluster.worker.kv-cache-dtype}, vLLM's option of
 * the same name): {@code auto} = the backend's run dtype (FP32 on the CPU, FP16/BF16 on CUDA); {@code int8} = one
 * signed byte per element plus one FP32 scale per (token, kv head), symmetric absmax ({@link Int8Kv}; docs/gpu.md,
 * "INT8 KV cache"). About half the bytes of a 16-bit cache (a quarter of the CPU's FP32 one), so the pool holds about
 * twice (four times) the blocks.
 */
public enum KvCacheDtype {
    AUTO("auto", "fp32"),
    INT8("int8", "int8");

    private final String configName;
    private final String hashName;

    KvCacheDtype(String configName, String hashName) {
        this.configName = configName;
        this.hashName = hashName;
    }

    /** {@code auto} or {@code int8} (any case); anything else is refused with the accepted values. */
    public static KvCacheDtype parse(String value) {
        String v = value == null ? "" : value.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> AUTO;
            case "int8" -> INT8;
            default -> throw new IllegalArgumentException("kv-cache-dtype '" + value + "' is not supported: use auto "
                    + "(the model's run dtype) or int8");
        };
    }

    /** The value as the option and the setting spell it. */
    public String configName() {
        return configName;
    }

    /**
     * The {@code kvDtype} of the block hashes (kv-manager's {@code HashExtra}): blocks of an INT8 cache never share a
     * hash with unquantized ones. {@code auto} keeps the name the scheme has always used for the unquantized cache,
     * so hashes (and the gateway's routing against them) are unchanged for it.
     */
    public String hashName() {
        return hashName;
    }
}
