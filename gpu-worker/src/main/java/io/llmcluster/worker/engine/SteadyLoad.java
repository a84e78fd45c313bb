package io.llmcluster.worker.engine;

import io.llmcluster.batcher.FinishReason;
import io.llmcluster.batcher.SamplingParams;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;
import org.agrona.collections.LongArrayList;

/**
 * A steady load on an {@link Engine}: exactly {@code streams} requests in flight, a new one submitted the moment one
 * ends (from its sink, on the engine's emitter thread), random prompts of {@code minPrompt..maxPrompt} tokens and
 * {@code outputTokens} greedy output tokens each ({@code ignoreEos}). After a warm-up, it measures over a fixed
 * window: inter-token latency percentiles (the gap between consecutive tokens of one request, as its sink sees
 * them, counted when the later token falls in the window), output tokens per second, time to first token, and the
 * engine's steps and prompt tokens over the window.
 *
 * <p>The first wave is staggered (stream i first asks for about {@code (i + 1) / streams} of the output tokens), so
 * requests end one or two at a time and arrivals are spread over the steps instead of all landing in one burst
 * every {@code outputTokens} steps; the warm-up should cover that first wave. At the end every request still in
 * flight is cancelled, so the engine is left idle.
 */
public final class SteadyLoad {
    /**
     * @param streams       requests in flight at every moment
     * @param minPrompt     shortest random prompt, tokens
     * @param maxPrompt     longest random prompt, tokens
     * @param outputTokens  output tokens of each request (after the staggered first wave)
     * @param warmupSeconds run before the window opens
     * @param windowSeconds the measured window
     * @param seed          prompts' random seed
     */
    public record Options(int streams, int minPrompt, int maxPrompt, int outputTokens, double warmupSeconds,
                          double windowSeconds, long seed) {
        public Options {
            if (streams < 1 || minPrompt < 1 || maxPrompt < minPrompt || outputTokens < 1 || !(warmupSeconds >= 0)
                    || !(windowSeconds > 0)) {
                throw new IllegalArgumentException("steady load needs streams >= 1, 1 <= minPrompt <= maxPrompt, "
                        + "outputTokens >= 1, warmupSeconds >= 0, windowSeconds > 0; got " + this);
            }
        }
    }

    /**
     * What the window saw. Latencies in milliseconds; NaN where there was nothing to measure.
     *
     * @param tokens            output tokens whose time fell in the window
     * @param gaps              inter-token gaps measured
     * @param completed         requests that ended in the window
     * @param errors            requests that ended with an error during the whole run (warm-up included)
     * @param steps             engine steps in the window
     * @param promptTokens      prompt tokens the engine computed in the window (recomputations included)
     * @param backendBusyFraction time inside the backend's forward over the window (NaN without a clock)
     * @param fillPhaseSteps    steps planned in a fill phase in the window (the prefill cap lifted for a burst)
     * @param windowStartNs     the window's start on {@link System#nanoTime()}'s clock
     * @param windowEndNs       its end, same clock (for matching per-step logs to the window)
     */
    public record Result(int streams, double windowSeconds, long tokens, double outputTokensPerSecond, int gaps,
                         double itlMeanMs, double itlP50Ms, double itlP90Ms, double itlP99Ms, double itlP999Ms,
                         double itlMaxMs, int ttfts, double ttftP50Ms, double ttftP99Ms, int completed, int errors,
                         long steps, long promptTokens, double backendBusyFraction, long fillPhaseSteps,
                         long windowStartNs, long windowEndNs) {
        /** The stability measure: p99 over p50 of the inter-token latency. */
        public double itlP99OverP50() {
            return itlP99Ms / itlP50Ms;
        }

        /** Mean wall time of an engine step in the window. */
        public double stepMs() {
            return steps == 0 ? Double.NaN : windowSeconds * 1e3 / steps;
        }
    }

    private final Engine engine;
    private final int vocab;
    private final Options o;
    private final SamplingParams steadyParams;
    private final Random[] prompts;
    private final AtomicLongArray requestIds;
    private final long[] submitNs;
    private final long[] lastTokenNs;
    private final CountDownLatch ended;
    private final LongArrayList gapNs = new LongArrayList();
    private final LongArrayList ttftNs = new LongArrayList();
    private volatile long windowStartNs = Long.MAX_VALUE;
    private volatile long windowEndNs = Long.MAX_VALUE;
    private volatile boolean stopping;
    private long tokensInWindow;
    private int completedInWindow;
    private int errors;

    private SteadyLoad(Engine engine, int vocab, Options o) {
        this.engine = engine;
        this.vocab = vocab;
        this.o = o;
        this.steadyParams = params(o.outputTokens());
        this.prompts = new Random[o.streams()];
        this.requestIds = new AtomicLongArray(o.streams());
        this.submitNs = new long[o.streams()];
        this.lastTokenNs = new long[o.streams()];
        this.ended = new CountDownLatch(o.streams());
        for (int i = 0; i < o.streams(); i++) {
            prompts[i] = new Random(o.seed() * 1_000_003L + i);
        }
    }

    /**
     * Runs the load on {@code engine} (idle, with room for {@code streams} sequences of {@code maxPrompt + outputTokens}
     * tokens) and returns what the window measured. {@code backendNanos}, if not null, reads the time spent inside the
     * backend so far (a {@link io.llmcluster.worker.backend.TimedBackend}).
     *
     * @throws IllegalArgumentException if a request would not fit the engine's context or vocabulary
     * @throws IllegalStateException    if the requests in flight do not end within a minute of the window's end
     */
    public static Result run(Engine engine, int vocabSize, Options options, LongSupplier backendNanos)
            throws InterruptedException {
        if (options.maxPrompt() + options.outputTokens() > engine.maxModelLen()) {
            throw new IllegalArgumentException("a prompt of " + options.maxPrompt() + " tokens plus " + options.outputTokens()
                    + " output tokens does not fit the engine's " + engine.maxModelLen() + "-token context");
        }
        if (vocabSize < 2) {
            throw new IllegalArgumentException("vocabulary of " + vocabSize + " tokens");
        }
        return new SteadyLoad(engine, vocabSize, options).run(backendNanos);
    }

    private Result run(LongSupplier backendNanos) throws InterruptedException {
        long t0 = System.nanoTime();
        for (int i = 0; i < o.streams(); i++) { // the staggered first wave
            submit(i, params(Math.max(1, (int) ((long) (i + 1) * o.outputTokens() / o.streams()))));
        }
        sleepUntil(t0 + seconds(o.warmupSeconds()));
        EngineStats before = engine.stats();
        long fillBefore = engine.fillPhaseSteps();
        long busyBefore = backendNanos == null ? 0 : backendNanos.getAsLong();
        long start = System.nanoTime();
        windowEndNs = start + seconds(o.windowSeconds());
        windowStartNs = start;
        sleepUntil(windowEndNs);
        EngineStats after = engine.stats();
        long fillAfter = engine.fillPhaseSteps();
        long busyAfter = backendNanos == null ? 0 : backendNanos.getAsLong();
        long end = System.nanoTime();
        double window = (end - start) / 1e9;
        stopping = true;
        long deadline = System.nanoTime() + seconds(60);
        while (!ended.await(100, TimeUnit.MILLISECONDS)) { // cancel whatever is in flight, again while ids change
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("steady load: " + ended.getCount() + " of " + o.streams()
                        + " streams still in flight a minute after the window ended");
            }
            for (int i = 0; i < o.streams(); i++) {
                engine.cancel(requestIds.get(i));
            }
        }
        // the latch orders the emitter thread's writes before these reads
        long[] gaps = sorted(gapNs);
        long[] ttft = sorted(ttftNs);
        double busy = backendNanos == null ? Double.NaN : (busyAfter - busyBefore) / (window * 1e9);
        return new Result(o.streams(), window, tokensInWindow, tokensInWindow / window, gaps.length, mean(gaps),
                percentile(gaps, 0.50), percentile(gaps, 0.90), percentile(gaps, 0.99), percentile(gaps, 0.999),
                gaps.length == 0 ? Double.NaN : gaps[gaps.length - 1] / 1e6, ttft.length, percentile(ttft, 0.50),
                percentile(ttft, 0.99), completedInWindow, errors, after.steps() - before.steps(),
                after.promptTokens() - before.promptTokens(), busy, fillAfter - fillBefore, start, end);
    }

    private SamplingParams params(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    /** Submits stream {@code s}'s next request; the first call per stream is the caller's, later ones the engine's. */
    private void submit(int s, SamplingParams params) {
        Random r = prompts[s];
        int[] prompt = new int[o.minPrompt() + r.nextInt(o.maxPrompt() - o.minPrompt() + 1)];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = r.nextInt(vocab);
        }
        submitNs[s] = System.nanoTime();
        lastTokenNs[s] = 0;
        requestIds.set(s, engine.submit(prompt, params, chunk -> onChunk(s, chunk)));
    }

    /** On the engine's emitter thread (every sink of the engine is called there). */
    private void onChunk(int s, TokenChunk chunk) {
        long now = System.nanoTime();
        boolean inWindow = now >= windowStartNs && now < windowEndNs;
        if (chunk.tokenId() >= 0) {
            if (inWindow) {
                tokensInWindow++;
                if (lastTokenNs[s] == 0) {
                    ttftNs.addLong(now - submitNs[s]);
                } else {
                    gapNs.addLong(now - lastTokenNs[s]);
                }
            }
            lastTokenNs[s] = now;
        }
        if (!chunk.isLast()) {
            return;
        }
        if (chunk.finishReason() == FinishReason.ERROR) {
            errors++;
        }
        if (inWindow) {
            completedInWindow++;
        }
        if (stopping) {
            ended.countDown();
            return;
        }
        try {
            submit(s, steadyParams);
        } catch (RuntimeException e) { // the engine stopped under the load: this stream ends here
            errors++;
            ended.countDown();
        }
    }

    private static long seconds(double s) {
        return (long) (s * 1e9);
    }

    private static void sleepUntil(long deadlineNs) throws InterruptedException {
        for (long left; (left = deadlineNs - System.nanoTime()) > 0; ) {
            TimeUnit.NANOSECONDS.sleep(Math.min(left, 50_000_000L));
        }
    }

    private static long[] sorted(LongArrayList values) {
        long[] a = values.toLongArray();
        Arrays.sort(a);
        return a;
    }

    /** Nearest-rank percentile of sorted nanoseconds, in milliseconds; NaN for none. */
    static double percentile(long[] sortedNs, double p) {
        if (sortedNs.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p * sortedNs.length);
        return sortedNs[Math.clamp(rank - 1, 0, sortedNs.length - 1)] / 1e6;
    }

    private static double mean(long[] ns) {
        return ns.length == 0 ? Double.NaN : Arrays.stream(ns).average().orElseThrow() / 1e6;
    }
}
