package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.Request;
import io.llmcluster.batcher.SamplingParams;
import io.llmcluster.batcher.Scheduler;
import io.llmcluster.batcher.SchedulerConfig;
import io.llmcluster.batcher.StepPlan;
import io.llmcluster.batcher.StepResult;
import io.llmcluster.kv.BlockHasher;
import io.llmcluster.kv.BlockPool;
import io.llmcluster.kv.HashExtra;
import io.llmcluster.kv.KvCacheManager;
import io.llmcluster.kv.KvCacheStats;
import io.llmcluster.kv.KvEvent;
import io.llmcluster.kv.KvSnapshot;
import io.llmcluster.worker.backend.ForwardBatch;
import io.llmcluster.worker.backend.ModelBackend;
import io.llmcluster.worker.model.ModelDirectory;
import io.llmcluster.worker.sample.PlainRows;
import io.llmcluster.worker.sample.Sampler;
import java.lang.foreign.MemorySegment;
import org.agrona.collections.Long2ObjectHashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * One worker's engine: a single thread that owns the backend, the scheduler and the KV pool. Its loop:
 * drain commands (submit, cancel), {@code scheduler.schedule()}, run the step on the backend, sample each
 * sequence that finished its tokens, {@code scheduler.update()}, stream the chunks, publish KV events. When every
 * sampled row of a step is plain ({@link PlainRows#isPlain}: no penalties, logprobs or pending min-tokens
 * suppression; greedy or unseeded) the backend picks the tokens itself ({@link ModelBackend#forwardPlain}: on the
 * GPU only the ids come back); otherwise its logits come to the host sampler. Detokenizing, stop strings and the
 * sinks run on a second thread ({@link ChunkEmitter}), so the next step does not wait for them.
 * Other threads reach it only through {@link #submit} and {@link #cancel}, which enqueue commands; the loop
 * parks when there is no work.
 */
public final class Engine implements AutoCloseable {
    private final ModelDirectory model;
    private final ModelBackend backend;
    private final Scheduler scheduler;
    private final KvCacheManager kv;
    private final Sampler sampler;
    /** The rows of a step whose tokens the backend may pick itself (every row plain). */
    private final PlainRows plainRows;
    private final ForwardBatch batch;
    private final int maxModelLen;
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    /** Engine-side state by request id; primitive keys, so per-step lookups do not box. */
    private final Long2ObjectHashMap<SequenceState> sequences = new Long2ObjectHashMap<>();
    private final AtomicLong nextId = new AtomicLong(1);
    private final Thread thread;
    /** How long close() waits for the step in progress (a long prefill on a slow CPU takes seconds). */
    private static final long CLOSE_TIMEOUT_NS = 60_000_000_000L;
    private final StepMeter meter = new StepMeter();
    /** Detokenizes and delivers chunks on its own thread; tells this engine when a stop string ends a request. */
    private final ChunkEmitter emitter;
    private final List<KvEvent> eventBuffer = new ArrayList<>();
    private final Consumer<List<KvEvent>> kvEventSink;
    private final HashExtra hashExtra;
    /** The prompt tokens a step computes at most while some sequence decodes (0 = no cap), resolved from auto. */
    private final int prefillCap;
    private int[] sampled;
    private int[] rowOfEntry;
    private int[] rowTokens;
    private volatile EngineStats stats = EngineStats.EMPTY;
    private volatile long fillPhaseSteps;
    /** Between schedule() and update(): a failed step must still be closed with update(). */
    private boolean stepOpen;
    private volatile boolean running = true;

    public Engine(ModelDirectory model, ModelBackend backend, EngineConfig config, Consumer<List<KvEvent>> kvEventSink) {
        this.model = model;
        this.backend = backend;
        this.kvEventSink = kvEventSink;
        int blockSize = backend.kvBlockSize();
        BlockPool pool = new BlockPool(backend.numKvBlocks(), blockSize, System.nanoTime());
        HashExtra extra = HashExtra.base(model.modelId(), backend.kvCacheDtype().hashName());
        this.hashExtra = extra;
        this.kv = new KvCacheManager(pool, new BlockHasher(extra, blockSize));
        this.maxModelLen = (int) Math.min(model.config().maxContextTokens(), (long) backend.numKvBlocks() * blockSize);
        int batchTokens = Math.min(config.maxNumBatchedTokens(), backend.maxBatchTokens());
        int seqs = Math.min(Math.min(config.maxNumSeqs(), batchTokens), backend.maxSequences());
        this.prefillCap = config.maxPrefillTokensWhileDecoding() == EngineConfig.PREFILL_CAP_AUTO
                ? backend.preferredPrefillTokensWhileDecoding() : config.maxPrefillTokensWhileDecoding();
        this.scheduler = new Scheduler(new SchedulerConfig(batchTokens, seqs, maxModelLen, config.enablePrefixCaching(),
                config.policy(), model.generationConfig().eosTokenIds(), prefillCap,
                SchedulerConfig.defaultFillPhaseMinWaiting(seqs)), kv);
        this.sampler = new Sampler(backend.vocabSize(), model.generationConfig().eosTokenIds());
        this.batch = new ForwardBatch(batchTokens, seqs);
        this.plainRows = new PlainRows(seqs, sampler);
        this.sampled = new int[seqs];
        this.rowOfEntry = new int[seqs];
        this.rowTokens = new int[seqs];
        this.emitter = new ChunkEmitter(this::onStopString);
        this.thread = Thread.ofPlatform().name("llmc-engine").daemon().start(this::loop);
    }

    public Engine(ModelDirectory model, ModelBackend backend, EngineConfig config) {
        this(model, backend, config, events -> {});
    }

    /**
     * Queues a request; its chunks go to {@code sink} on the engine thread.
     *
     * @return the request id (for {@link #cancel})
     * @throws IllegalArgumentException for an empty prompt or one that leaves no room to generate
     */
    public long submit(int[] promptTokenIds, SamplingParams params, int priority, TokenSink sink) {
        if (promptTokenIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if (promptTokenIds.length >= maxModelLen) {
            throw new IllegalArgumentException("the prompt has " + promptTokenIds.length
                    + " tokens, but the context holds " + maxModelLen + " (prompt + at least one generated token)");
        }
        for (int id : promptTokenIds) {
            if (id < 0 || id >= backend.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + backend.vocabSize() + ")");
            }
        }
        long id = nextId.getAndIncrement();
        Request request = new Request(id, promptTokenIds.clone(), params, priority, System.nanoTime());
        SequenceState state = new SequenceState(request, sink, model.tokenizer(), model.generationConfig().eosTokenIds());
        command(() -> {
            sequences.put(id, state);
            scheduler.add(request);
        });
        return id;
    }

    public long submit(int[] promptTokenIds, SamplingParams params, TokenSink sink) {
        return submit(promptTokenIds, params, 0, sink);
    }

    /** Cancels a request: its KV blocks are freed on the engine's next turn; its last chunk says ABORT. */
    public void cancel(long requestId) {
        command(() -> {
            SequenceState s = sequences.remove(requestId);
            if (s != null && scheduler.cancel(requestId)) {
                emitter.end(s, FinishReason.ABORT, s.request.numOutputTokens());
            }
        });
    }

    /**
     * The KV pool's snapshot for the cluster's directory, taken on the engine thread between steps, so it matches
     * the events published so far exactly (its {@code seq} is the last of them).
     */
    public CompletableFuture<KvSnapshot> kvSnapshot(String workerId) {
        CompletableFuture<KvSnapshot> f = new CompletableFuture<>();
        command(() -> f.complete(KvSnapshot.of(workerId, kv.pool())));
        return f;
    }

    /** The KV pool's epoch (fixed for the engine's life). */
    public long kvEpoch() {
        return kv.pool().epoch();
    }

    /** Tokens per KV block. */
    public int kvBlockSize() {
        return backend.kvBlockSize();
    }

    /** The hasher's extra (model id, dtype) a gateway must use to hash prompts the way this engine does. */
    public HashExtra hashExtra() {
        return hashExtra;
    }

    public EngineStats stats() {
        return stats;
    }

    /** Steps planned so far in a fill phase (a burst admitted past the prefill cap; batcher/README.md). */
    public long fillPhaseSteps() {
        return fillPhaseSteps;
    }

    /** The prompt tokens a step computes at most while some sequence decodes; 0 = no cap (auto resolved). */
    public int maxPrefillTokensWhileDecoding() {
        return prefillCap;
    }

    /** Tokens one request may hold, prompt plus output. */
    public int maxModelLen() {
        return maxModelLen;
    }

    public ModelDirectory model() {
        return model;
    }

    private void command(Runnable c) {
        if (!running) {
            throw new IllegalStateException("the engine is stopped");
        }
        commands.add(c);
        LockSupport.unpark(thread);
    }

    private void loop() {
        try {
            runSteps();
        } finally {
            abortInFlight();
        }
    }

    private void drainCommands() {
        for (Runnable c; (c = commands.poll()) != null; ) {
            c.run();
        }
    }

    private void runSteps() {
        while (running) {
            drainCommands();
            StepPlan plan = scheduler.schedule();
            if (plan.isEmpty()) {
                publishStats();
                LockSupport.parkNanos(this, 50_000_000L);
                continue;
            }
            try {
                step(plan);
            } catch (RuntimeException | Error e) {
                failAll(plan, e);
            }
            kv.pool().events().drainTo(eventBuffer);
            if (!eventBuffer.isEmpty()) {
                kvEventSink.accept(eventBuffer);
                eventBuffer.clear();
            }
            publishStats();
        }
    }

    private void step(StepPlan plan) {
        long startNs = System.nanoTime();
        stepOpen = true;
        batch.clear();
        plainRows.clear();
        int rows = 0;
        int decodeTokens = 0;
        boolean plain = true;
        for (int e = 0; e < plan.numEntries(); e++) {
            SequenceState s = sequences.get(plan.requestId(e));
            int n = plan.numNewTokens(e);
            boolean sample = plan.sampleAfter(e);
            batch.addSequence(s.request, plan.startPosition(e), n, plan.startPosition(e),
                    s.refreshBlockTable(plan.blocks(e)), sample ? ForwardBatch.Logits.LAST : ForwardBatch.Logits.NONE);
            rowOfEntry[e] = sample ? rows++ : -1;
            decodeTokens += n == 1 && sample ? 1 : 0;
            if (sample && plain) {
                plain = addPlainRow(s);
            }
        }
        if (plain) {
            backend.forwardPlain(batch, plainRows, rowTokens);
            for (int e = 0; e < plan.numEntries(); e++) {
                sampled[e] = rowOfEntry[e] >= 0 ? rowTokens[rowOfEntry[e]] : sampled[e];
            }
        } else {
            sampleOnHost(plan, backend.forward(batch));
        }
        StepResult result = scheduler.update(plan, sampled);
        stepOpen = false;
        emit(result);
        meter.record(plan.totalTokens() - decodeTokens, decodeTokens, System.nanoTime() - startNs);
    }

    /** Adds the request's row to {@link #plainRows} when it is plain; false (nothing added) when not. */
    private boolean addPlainRow(SequenceState s) {
        int outputs = s.history.numOutputTokens();
        if (!PlainRows.isPlain(s.request.params(), outputs)) {
            return false;
        }
        plainRows.add(s.request.params(), s.history, s.rng, s.deviceSeed, outputs);
        return true;
    }

    /** The host path: every sampled row through the sampler, with penalties, min-tokens suppression, logprobs. */
    private void sampleOnHost(StepPlan plan, MemorySegment logits) {
        int vocab = backend.vocabSize();
        for (int e = 0; e < plan.numEntries(); e++) {
            if (rowOfEntry[e] >= 0) {
                SequenceState s = sequences.get(plan.requestId(e));
                sampled[e] = sampler.sample(logits, (long) rowOfEntry[e] * vocab, s.request.params(), s.history, s.rng);
                if (s.request.params().logprobs() >= 0) { // logprobs read the sampler's state of this row
                    s.captureLogprobs(sampler, sampled[e]);
                }
            }
        }
    }

    /**
     * Hands the step's tokens and endings to the emitter (detokenizing, stop strings and sinks happen there); the
     * penalty counts are updated here, since the sampler reads them on this thread in the next step.
     */
    private void emit(StepResult result) {
        for (int e = 0; e < result.numEntries(); e++) {
            SequenceState s = sequences.get(result.requestId(e));
            if (s == null) {
                continue;
            }
            FinishReason finish = result.finished(e) ? result.finishReason(e) : null;
            if (result.hasNewToken(e)) {
                s.history.appendOutput(result.newToken(e));
                emitter.token(s, result.newToken(e), finish, s.request.numOutputTokens(), s.takeLogprobs());
            } else if (finish != null) {
                emitter.end(s, finish, s.request.numOutputTokens());
            }
            if (finish != null) {
                sequences.remove(s.request.id());
            }
        }
    }

    /** From the emitter thread; also after close (the queue is then simply not drained). */
    private void onStopString(long requestId) {
        commands.add(() -> finishByString(requestId));
        LockSupport.unpark(thread);
    }

    /** A stop string ended the request (found by the emitter, which already sent its last chunk): free it. */
    private void finishByString(long requestId) {
        if (sequences.remove(requestId) != null) {
            scheduler.finish(requestId, FinishReason.STOP);
        }
    }

    /** A step that threw: its requests end with ERROR and free their blocks; the engine goes on. */
    private void failAll(StepPlan plan, Throwable error) {
        System.err.println("[engine] step failed, ending its " + plan.numEntries() + " requests: " + error);
        for (int e = 0; e < plan.numEntries(); e++) {
            long id = plan.requestId(e);
            SequenceState s = sequences.remove(id);
            scheduler.finish(id, FinishReason.ERROR);
            if (s != null) {
                emitter.end(s, FinishReason.ERROR, s.request.numOutputTokens());
            }
        }
        if (stepOpen) {
            scheduler.update(plan, sampled); // closes the step; the finished entries gain nothing
            stepOpen = false;
        }
    }

    private void publishStats() {
        fillPhaseSteps = scheduler.numFillSteps();
        var st = scheduler.stats();
        KvCacheStats k = kv.stats();
        stats = new EngineStats(st.numRunning(), st.numWaiting(), k.totalBlocks(), k.freeBlocks(), k.usedBlocks(),
                k.prefixHitRate(), k.prefixQueryTokens(), k.prefixHitTokens(), st.numPreemptions(), st.numSteps(), meter.prefillTokensPerSecond(),
                meter.decodeTokensPerSecond(), meter.prefillTokens(), meter.decodeTokens());
    }

    /**
     * On the engine thread as it stops: commands still queued run (so a request submitted just before close is
     * known), then every request in flight ends with ABORT. Only the engine thread touches the sequences, so a
     * close that races with a step cannot corrupt them.
     */
    private void abortInFlight() {
        for (boolean drained = false; !drained; ) { // a failed command is already polled: go on with the next
            try {
                drainCommands();
                drained = true;
            } catch (RuntimeException e) {
                System.err.println("[engine] command failed while stopping: " + e);
            }
        }
        for (SequenceState s : sequences.values()) {
            scheduler.finish(s.request.id(), FinishReason.ABORT);
            emitter.end(s, FinishReason.ABORT, s.request.numOutputTokens());
        }
        sequences.clear();
        publishStats();
        emitter.close(); // every chunk queued so far is delivered before the engine thread ends
    }

    /**
     * Stops the loop after the step in progress; requests still in flight end with ABORT. Waits for the engine
     * thread (the caller usually closes the backend next, which must not happen under a running step); an
     * interrupt does not cut the wait short, it is re-asserted after.
     */
    @Override
    public void close() {
        running = false;
        LockSupport.unpark(thread);
        boolean interrupted = false;
        long deadline = System.nanoTime() + CLOSE_TIMEOUT_NS;
        while (thread.isAlive() && System.nanoTime() < deadline) {
            try {
                thread.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (thread.isAlive()) {
            System.err.println("[engine] the engine thread did not stop within " + CLOSE_TIMEOUT_NS / 1_000_000_000
                    + " s (a step is stuck); its requests end when it does");
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
