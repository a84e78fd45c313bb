package io.llmcluster.worker.tools;

import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.cpu.CpuBackend;
import io.llmcluster.worker.cpu.CpuBackendOptions;
import io.llmcluster.worker.cpu.CpuThreadPool;
import io.llmcluster.worker.model.ModelDirectory;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Batch-1 CPU throughput of {@link CpuBackend} on a model directory: one prefill of {@link BenchPrompt} tokens
 * (in chunks of the backend's batch size) and then greedy decode steps, after a warm-up, best of several runs;
 * plus the memory bandwidth measured in the same process and the decode bound it sets (weight bytes per token
 * over bytes read per second). Prints {@code key=value} lines that deploy/bench/cpu-decode-bench.sh reads.
 *
 * <pre>CpuDecodeBench MODEL_DIR [promptTokens=128] [decodeTokens=64] [runs=3] [threads=all]</pre>
 */
public final class CpuDecodeBench {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long BANDWIDTH_BYTES = 1L << 30;
    private static final int BANDWIDTH_PASSES = 5;

    private final CpuBackend backend;
    private final ForwardBatch batch;
    private final int[] blockTable;
    private final int vocab;

    private CpuDecodeBench(CpuBackend backend) {
        this.backend = backend;
        this.batch = new ForwardBatch(backend.maxBatchTokens(), 1);
        this.blockTable = new int[backend.numKvBlocks()];
        Arrays.setAll(blockTable, i -> i);
        this.vocab = backend.vocabSize();
    }

    public static void main(String[] args) {
        Path dir = Path.of(args[0]);
        int promptTokens = args.length > 1 ? Integer.parseInt(args[1]) : 128;
        int decodeTokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int runs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : Runtime.getRuntime().availableProcessors();
        CpuBackendOptions options = CpuBackendOptions.defaults().withThreads(threads);
        try (ModelDirectory model = ModelDirectory.open(dir); CpuBackend backend = new CpuBackend(model, options)) {
            System.out.println("engine=llmcluster backend=\"" + backend.describe() + "\"");
            CpuDecodeBench bench = new CpuDecodeBench(backend);
            int[] prompt = BenchPrompt.tokens(promptTokens, backend.vocabSize());
            bench.run(prompt, decodeTokens); // warm-up: JIT and first touch of weights, KV and activations
            double bestPrefill = 0;
            double bestDecode = 0;
            for (int r = 0; r < runs; r++) {
                Run run = bench.run(prompt, decodeTokens);
                System.out.printf("run=%d prefill_tok_s=%.3f decode_tok_s=%.3f first_token=%d last_token=%d%n", r,
                        run.prefillTokPerS(), run.decodeTokPerS(), run.firstToken, run.lastToken);
                bestPrefill = Math.max(bestPrefill, run.prefillTokPerS());
                bestDecode = Math.max(bestDecode, run.decodeTokPerS());
            }
            System.out.printf("llmcluster_prefill_tok_s=%.3f%nllmcluster_decode_tok_s=%.3f%n", bestPrefill, bestDecode);
            reportBound(threads, weightBytesPerToken(model), bestDecode);
        }
    }

    private static void reportBound(int threads, long weightBytes, double decodeTokPerS) {
        try (CpuThreadPool pool = new CpuThreadPool(threads)) {
            MemoryBandwidth bw = new MemoryBandwidth(pool, BANDWIDTH_BYTES, BANDWIDTH_PASSES);
            double copy = bw.copyReadBytesPerSecond();
            double stream = bw.streamReadBytesPerSecond();
            System.out.printf("weight_bytes_per_token=%d%n", weightBytes);
            // The copy reads N bytes and writes N: "read" counts N (a lenient bound: the copy spent as much again writing),
            // "rw" counts 2N (the traffic the memory system sustained); the stream is a pure read.
            bound("copy_read", copy, weightBytes, decodeTokPerS);
            bound("copy_rw", 2 * copy, weightBytes, decodeTokPerS);
            bound("stream_read", stream, weightBytes, decodeTokPerS);
        }
    }

    private static void bound(String name, double bytesPerS, long weightBytes, double decodeTokPerS) {
        double bound = bytesPerS / weightBytes;
        System.out.printf("%s_gb_s=%.3f%nbound_%s_tok_s=%.3f%nfraction_of_%s_bound=%.3f%n", name, bytesPerS / 1e9, name,
                bound, name, decodeTokPerS / bound);
    }

    /** Bytes of every matrix a decode step streams: all projections and the LM head (the embeddings when tied). */
    static long weightBytesPerToken(ModelDirectory model) {
        var tensors = model.checkpoint().tensors();
        String head = tensors.containsKey("lm_head.weight") && !model.config().tieWordEmbeddings()
                ? "lm_head.weight" : "model.embed_tokens.weight";
        long bytes = tensors.get(head).data().byteSize();
        for (var e : tensors.entrySet()) {
            if (e.getKey().endsWith("_proj.weight")) {
                bytes += e.getValue().data().byteSize();
            }
        }
        return bytes;
    }

    private record Run(long prefillNs, int promptTokens, long decodeNs, int decodeTokens, int firstToken, int lastToken) {
        double prefillTokPerS() {
            return promptTokens / (prefillNs / 1e9);
        }

        double decodeTokPerS() {
            return decodeTokens / (decodeNs / 1e9);
        }
    }

    /** Prefill of the prompt (logits of its last token, argmax), then {@code decodeTokens} greedy steps. */
    private Run run(int[] prompt, int decodeTokens) {
        int[] tokens = Arrays.copyOf(prompt, prompt.length + decodeTokens + 1);
        long t0 = System.nanoTime();
        MemorySegment logits = null;
        for (int from = 0; from < prompt.length; from += backend.maxBatchTokens()) {
            int count = Math.min(backend.maxBatchTokens(), prompt.length - from);
            boolean last = from + count == prompt.length;
            batch.clear();
            batch.addSequence(tokens, from, count, from, blockTable, last ? ForwardBatch.Logits.LAST : ForwardBatch.Logits.NONE);
            logits = backend.forward(batch);
        }
        int length = prompt.length;
        tokens[length++] = argmax(logits);
        long t1 = System.nanoTime();
        for (int i = 0; i < decodeTokens; i++) {
            batch.clear();
            batch.addSequence(tokens, length - 1, 1, length - 1, blockTable, ForwardBatch.Logits.LAST);
            tokens[length++] = argmax(backend.forward(batch));
        }
        long t2 = System.nanoTime();
        return new Run(t1 - t0, prompt.length, t2 - t1, decodeTokens, tokens[prompt.length], tokens[length - 1]);
    }

    private int argmax(MemorySegment logits) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float v = logits.get(FLOAT, 4L * i);
            if (v > max) {
                max = v;
                best = i;
            }
        }
        return best;
    }
}
