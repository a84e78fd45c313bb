package io.llmcluster.worker.engine;

/**
 * Measured prefill and decode rates for load reports and the router: each step's tokens over its time,
 * smoothed exponentially, with a step's time split between its prefill and decode tokens in proportion.
 */
final class StepMeter {
    private static final double SMOOTHING = 0.1;
    private double prefillRate;
    private double decodeRate;
    private long prefillTokens;
    private long decodeTokens;

    void record(int prefill, int decode, long nanos) {
        prefillTokens += prefill;
        decodeTokens += decode;
        double seconds = nanos / 1e9;
        if (seconds <= 0) {
            return;
        }
        if (prefill > 0) {
            prefillRate = smooth(prefillRate, prefill / (seconds * prefill / (prefill + decode)));
        }
        if (decode > 0) {
            decodeRate = smooth(decodeRate, decode / (seconds * decode / (prefill + decode)));
        }
    }

    private static double smooth(double old, double sample) {
        return old == 0 ? sample : old + SMOOTHING * (sample - old);
    }

    double prefillTokensPerSecond() {
        return prefillRate;
    }

    double decodeTokensPerSecond() {
        return decodeRate;
    }

    long prefillTokens() {
        return prefillTokens;
    }

    long decodeTokens() {
        return decodeTokens;
    }
}
