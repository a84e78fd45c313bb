package io.llmcluster.worker.cpu;

import java.lang.foreign.MemorySegment;

/**
 * One decoder layer's weights. Norm weights are FP32 [hidden]; projections are [out][in]:
 * q [numHeads·headDim][hidden], k and v [numKvHeads·headDim][hidden], o [hidden][numHeads·headDim],
 * gate and up [intermediate][hidden], down [hidden][intermediate].
 */
record LayerWeights(MemorySegment attentionNorm, Linear q, Linear k, Linear v, Linear o,
                    MemorySegment mlpNorm, Linear gate, Linear up, Linear down) {}
