package io.llmcluster.kv;

import java.util.Objects;

/**
 * What besides the tokens decides whether two KV blocks are interchangeable: the model, the LoRA adapter
 * ({@code ""} for none) and the KV-cache dtype (e.g. {@code "bf16"}, {@code "fp8_e4m3"}). Folded into every
 * block hash by {@link BlockHasher}, so blocks of different models, adapters or dtypes never match.
 */
public record HashExtra(String modelId, String adapterId, String kvDtype) {
  /** The adapter id of a request that uses the base model only. */
  public static final String NO_ADAPTER = "";

  public HashExtra {
    Objects.requireNonNull(modelId, "modelId");
    Objects.requireNonNull(adapterId, "adapterId (use NO_ADAPTER)");
    Objects.requireNonNull(kvDtype, "kvDtype");
  }

  /** The extra for the base model without an adapter. */
  public static HashExtra base(String modelId, String kvDtype) {
    return new HashExtra(modelId, NO_ADAPTER, kvDtype);
  }
}
